// One function approximation (exp: data -> state; softplus, SiLU: data -> data) as the
// profile chooses it: piecewise-linear or shift-biased in a fixed-point unit; in a float
// unit the FP block evaluates numerics::approximate_float (behavioural, scan_fp_pkg).
module scan_approx #(
  parameter bit IsFloat = 1'b0,
  parameter int Function = 0,  // numerics::Function order: 0 exp, 1 softplus, 2 silu
  parameter int Method = 1,  // ApproxMethod order: 0 exact, 1 piecewise-linear, 2 shift-biased
  parameter int Segments = 2,
  parameter int Log2Range = 0,
  parameter int Log2Length = 0,
  parameter int InW = 16,
  parameter int InF = 0,
  parameter int InType = 0,
  parameter int OutW = 16,
  parameter int OutF = 0,
  parameter int OutType = 0,
  parameter logic [(Segments+1)*OutW-1:0] Knots = '0,
  parameter int Log2eFrac = 24,
  parameter logic [Log2eFrac+1:0] Log2eRaw = '0
) (
  input  logic [ InW-1:0] x_i,
  output logic [OutW-1:0] y_o
);
  if (IsFloat) begin : g_float
    assign y_o = OutW'(scan_fp_pkg::ssm_fp_fn(Function, Method, Segments, 32'(x_i), InType, OutType));
  end else if (Method == 1) begin : g_pwl
    scan_pwl #(
      .InW            (InW),
      .InF            (InF),
      .OutW           (OutW),
      .OutF           (OutF),
      .Segments       (Segments),
      .Log2Range      (Log2Range),
      .Log2Length     (Log2Length),
      .UpperIsLastKnot(Function == 0),
      .Knots          (Knots)
    ) u_pwl (
      .x_i(x_i),
      .y_o(y_o)
    );
  end else if (Method == 2 && Function == 0) begin : g_shift_biased
    scan_exp_shift_biased #(
      .InW      (InW),
      .InF      (InF),
      .OutW     (OutW),
      .OutF     (OutF),
      .Log2eFrac(Log2eFrac),
      .Log2eRaw (Log2eRaw)
    ) u_exp (
      .x_i(x_i),
      .y_o(y_o)
    );
  end else begin : g_unsupported
    $error("scan_approx: no fixed-point RTL for this approximation (exact needs the FP block)");
  end
endmodule
