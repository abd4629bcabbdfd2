// Shift-biased exponential (Schraudolph, numerics::shift_biased_exp), for x <= 0:
//   v = x * log2(e) (constant Log2eRaw with Log2eFrac fraction bits, v exact);
//   k = floor(v), f = v - k; exp(x) ~ (1 + f) * 2^k: the mantissa 1 + f shifted right by
//   -k and rounded once (RNE) to OutF fraction bits, saturated. Positive x is taken as 0.
module scan_exp_shift_biased #(
  parameter int InW = 16,
  parameter int InF = 10,
  parameter int OutW = 24,
  parameter int OutF = 16,
  parameter int Log2eFrac = 24,
  parameter logic [Log2eFrac+1:0] Log2eRaw = '0
) (
  input  logic [ InW-1:0] x_i,
  output logic [OutW-1:0] y_o
);
  localparam int VF = InF + Log2eFrac;  // fraction bits of v
  localparam int VW = InW + Log2eFrac + 2;
  localparam int KW = VW - VF;  // floor(v)
  localparam int MW = VF + 1;  // the mantissa 1.f
  localparam int Base = VF - OutF;  // right shift of the mantissa at k = 0
  localparam int ShW = KW + 9;
  localparam logic [ShW-1:0] ShMax = ShW'(MW + 1);  // any further shift gives 0 as well

  logic [InW-1:0] xn;
  logic [VW-1:0] v;
  logic [KW-1:0] negk;
  logic [MW-1:0] mant;
  logic [ShW-1:0] sh_full, sh;
  assign xn = x_i[InW-1] ? x_i : '0;
  assign v = VW'($signed(xn)) * VW'(Log2eRaw);
  assign negk = -v[VW-1:VF];
  assign mant = {1'b1, v[VF-1:0]};
  assign sh_full = ShW'(negk) + ShW'(Base);
  assign sh = (sh_full > ShMax) ? ShMax : sh_full;

  logic [MW+1:0] q2;  // 2 * mantissa >> sh: the quotient and the rounding bit
  logic [MW:0] mask, q, r;
  logic round_bit, sticky, up;
  always_comb begin
    q2 = {1'b0, mant, 1'b0} >> sh;
    mask = (sh == '0) ? '0 : (({{MW{1'b0}}, 1'b1} << (sh - ShW'(1))) - (MW + 1)'(1));
    round_bit = q2[0];
    sticky = |({1'b0, mant} & mask);
    q = q2[MW+1:1];
    up = round_bit & (sticky | q[0]);
    r = q + (MW + 1)'(up);
  end
  scan_sat #(.InW(MW + 2), .OutW(OutW)) u_sat (.x_i({1'b0, r}), .y_o(y_o));
endmodule
