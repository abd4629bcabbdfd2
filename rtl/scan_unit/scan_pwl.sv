// Piecewise-linear approximation with Segments uniform segments over a domain of length
// 2^Log2Length starting at lo = -2^Log2Range (numerics::pwl_eval):
//   off = x - lo; p = off * Segments; i = p >> Shift; t = p mod 2^Shift;
//   y = knot[i] + RNE((knot[i+1] - knot[i]) * t, Shift), saturated;
//   below the domain 0; above it the last knot (exp) or x converted to the output format.
// Knots: the coefficient ROM generated from numerics::make_pwl_table (scan_cfg_pkg).
module scan_pwl #(
  parameter int InW = 16,
  parameter int InF = 8,
  parameter int OutW = 16,
  parameter int OutF = 8,
  parameter int Segments = 16,
  parameter int Log2Range = 2,
  parameter int Log2Length = 2,
  parameter bit UpperIsLastKnot = 1'b1,
  parameter logic [(Segments+1)*OutW-1:0] Knots = '0
) (
  input  logic [ InW-1:0] x_i,
  output logic [OutW-1:0] y_o
);
  // log2 of the domain length in input lsbs. At least 1: a shorter domain comes only from an
  // instance elaborated with degenerate parameters (yosys elaborates every module with its
  // defaults, scan_approx's among them), never from a profile's table.
  localparam int Shift = (Log2Length + InF >= 1) ? Log2Length + InF : 1;
  localparam int CW = InW + 2;
  localparam int SegW = $clog2(Segments + 1);
  localparam int PW = Shift + SegW;
  localparam int MW = OutW + Shift + 2;

  logic [OutW-1:0] rom[Segments+1];
  for (genvar i = 0; i <= Segments; i++) begin : g_rom
    assign rom[i] = Knots[i*OutW+:OutW];
  end

  logic signed [CW-1:0] x, lo, hi;
  logic [Shift-1:0] off;  // x - lo inside the domain
  logic below, above;
  assign x = CW'($signed(x_i));
  assign lo = -(CW'(1) << (Log2Range + InF));
  assign hi = lo + (CW'(1) << Shift);
  assign below = x < lo;
  assign above = x >= hi;
  assign off = Shift'(x - lo);

  logic [PW-1:0] p;
  logic [SegW-1:0] idx;
  logic [Shift-1:0] frac;
  assign p = PW'(off) * PW'(Segments);
  assign idx = (below || above) ? '0 : p[PW-1:Shift];
  assign frac = p[Shift-1:0];

  logic [OutW-1:0] k0, k1;
  logic [OutW:0] slope;
  logic [MW-1:0] prod;
  logic [OutW:0] step;
  logic [OutW+1:0] sum;
  logic [OutW-1:0] interp, upper;
  assign k0 = rom[idx];
  assign k1 = rom[idx+SegW'(1)];
  assign slope = {k1[OutW-1], k1} - {k0[OutW-1], k0};
  assign prod = MW'($signed(slope)) * MW'(frac);
  scan_rescale #(.InW(MW), .Shift(Shift), .OutW(OutW + 1)) u_round (.x_i(prod), .y_o(step));
  assign sum = (OutW + 2)'($signed(k0)) + (OutW + 2)'($signed(step));
  scan_sat #(.InW(OutW + 2), .OutW(OutW)) u_sat (.x_i(sum), .y_o(interp));

  if (UpperIsLastKnot) begin : g_upper_knot
    assign upper = rom[Segments];
  end else begin : g_upper_identity
    scan_rescale #(.InW(InW), .Shift(InF - OutF), .OutW(OutW)) u_conv (.x_i(x_i), .y_o(upper));
  end

  assign y_o = below ? '0 : above ? upper : interp;
endmodule
