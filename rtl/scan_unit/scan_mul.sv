// a (AW bits, AF fraction bits) * b (BW, BF) into OW bits with OF fraction bits: fixed
// point (scan_mul_fixed), or for a float unit the FP block's multiplier (behavioural).
module scan_mul #(
  parameter bit IsFloat = 1'b0,
  parameter int AW      = 16,
  parameter int AF      = 0,
  parameter int AType   = 0,
  parameter int BW      = 16,
  parameter int BF      = 0,
  parameter int BType   = 0,
  parameter int OW      = 16,
  parameter int OF      = 0,
  parameter int OType   = 0
) (
  input  logic [AW-1:0] a_i,
  input  logic [BW-1:0] b_i,
  output logic [OW-1:0] y_o
);
  if (IsFloat) begin : g_float
    assign y_o = OW'(scan_fp_pkg::ssm_fp_mul(32'(a_i), AType, 32'(b_i), BType, OType));
  end else begin : g_fixed
    scan_mul_fixed #(
      .AW   (AW),
      .BW   (BW),
      .Shift(AF + BF - OF),
      .OutW (OW)
    ) u_mul (
      .a_i(a_i),
      .b_i(b_i),
      .y_o(y_o)
    );
  end
endmodule
