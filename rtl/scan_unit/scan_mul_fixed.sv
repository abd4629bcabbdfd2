// a * b: the exact product, one rounding shift by Shift, saturation (numerics::multiply).
module scan_mul_fixed #(
  parameter int AW    = 16,
  parameter int BW    = 16,
  parameter int Shift = 0,
  parameter int OutW  = 16
) (
  input  logic [  AW-1:0] a_i,
  input  logic [  BW-1:0] b_i,
  output logic [OutW-1:0] y_o
);
  localparam int PW = AW + BW;
  logic [PW-1:0] ae, be, p;
  assign ae = PW'($signed(a_i));
  assign be = PW'($signed(b_i));
  // The low PW bits of the product of the sign-extended operands: the exact signed product.
  assign p = ae * be;
  scan_rescale #(.InW(PW), .Shift(Shift), .OutW(OutW)) u_round (.x_i(p), .y_o(y_o));
endmodule
