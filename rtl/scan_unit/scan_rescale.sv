// x * 2^-Shift rounded to nearest, ties to even (Shift > 0), or multiplied by 2^-Shift
// exactly (Shift <= 0), then saturated to OutW bits (numerics rescale/convert). A left shift
// of an out-of-range value saturates the same way, so no pre-saturation is needed.
module scan_rescale #(
  parameter int InW   = 16,
  parameter int Shift = 0,
  parameter int OutW  = 16
) (
  input  logic [ InW-1:0] x_i,
  output logic [OutW-1:0] y_o
);
  if (Shift == 0) begin : g_same
    scan_sat #(.InW(InW), .OutW(OutW)) u_sat (.x_i(x_i), .y_o(y_o));
  end else if (Shift < 0) begin : g_left
    localparam int LW = InW - Shift;
    logic [LW-1:0] shifted;
    assign shifted = {x_i, {(-Shift){1'b0}}};
    scan_sat #(.InW(LW), .OutW(OutW)) u_sat (.x_i(shifted), .y_o(y_o));
  end else begin : g_right
    localparam int EW = (InW > Shift) ? InW : Shift + 1;  // room for the rounding bits
    localparam int QW = EW - Shift;  // floor(x * 2^-Shift)
    localparam int RW = QW + 1;  // after rounding up
    logic [EW-1:0] xe;
    logic [RW-1:0] q, r;
    logic round_bit, sticky, up;
    assign xe = EW'($signed(x_i));
    assign q = {xe[EW-1], xe[EW-1:Shift]};
    assign round_bit = xe[Shift-1];
    if (Shift >= 2) begin : g_sticky
      assign sticky = |xe[Shift-2:0];
    end else begin : g_no_sticky
      assign sticky = 1'b0;
    end
    assign up = round_bit & (sticky | q[0]);
    assign r  = q + RW'(up);
    scan_sat #(.InW(RW), .OutW(OutW)) u_sat (.x_i(r), .y_o(y_o));
  end
endmodule
