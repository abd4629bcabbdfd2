// Clamps a signed InW-bit value to the range of OutW bits (numerics::saturate).
module scan_sat #(
  parameter int InW  = 8,
  parameter int OutW = 8
) (
  input  logic [ InW-1:0] x_i,
  output logic [OutW-1:0] y_o
);
  if (InW <= OutW) begin : g_extend
    assign y_o = OutW'($signed(x_i));
  end else begin : g_clamp
    logic fits;
    assign fits = x_i[InW-1:OutW-1] == {(InW - OutW + 1){x_i[InW-1]}};
    assign y_o  = fits ? x_i[OutW-1:0] : {x_i[InW-1], {(OutW - 1){~x_i[InW-1]}}};
  end
endmodule
