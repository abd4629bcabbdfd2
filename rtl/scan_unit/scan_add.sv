// Saturating add in one format: fixed point (scan_add_fixed), or for a float unit the FP
// block's adder (result rounded to Type; behavioural, scan_fp_pkg).
module scan_add #(
  parameter bit IsFloat = 1'b0,
  parameter int W       = 16,
  parameter int Type    = 0
) (
  input  logic [W-1:0] a_i,
  input  logic [W-1:0] b_i,
  output logic [W-1:0] y_o
);
  if (IsFloat) begin : g_float
    assign y_o = W'(scan_fp_pkg::ssm_fp_add(32'(a_i), 32'(b_i), Type));
  end else begin : g_fixed
    scan_add_fixed #(.W(W)) u_add (.a_i(a_i), .b_i(b_i), .y_o(y_o));
  end
endmodule
