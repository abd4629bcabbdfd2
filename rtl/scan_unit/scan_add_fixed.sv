// Saturating a + b in one W-bit fixed-point format (numerics::add).
module scan_add_fixed #(
  parameter int W = 16
) (
  input  logic [W-1:0] a_i,
  input  logic [W-1:0] b_i,
  output logic [W-1:0] y_o
);
  logic [W:0] sum;
  assign sum = {a_i[W-1], a_i} + {b_i[W-1], b_i};
  scan_sat #(.InW(W + 1), .OutW(W)) u_sat (.x_i(sum), .y_o(y_o));
endmodule
