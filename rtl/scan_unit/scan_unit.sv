// Scan unit: a pipelined array of Lanes lanes that runs the selective-scan recurrence of
// one channel (Mamba-1: per-channel A over N state elements) or one head row (Mamba-2: one
// scalar decay per head), bit for bit as arch/fixed_scan.cpp computes it
// (arch/NUMERICS.md, "The datapath"). Parameters: the macros of scan_cfg.svh, generated
// from the profile by scan_unit_gen and read before this file.
//
// Input stream (valid/ready): one beat = Lanes state elements of one step; a step of state
// size N takes ceil(N / Lanes) beats, beat b holding elements b*Lanes .. b*Lanes+Lanes-1.
// The per-step operands (dt, bias, u, D, z, scalar A, flags) are held over the step's beats.
// The state of the running channel stays in the unit; a step with in_load_i takes its
// starting state from in_h_i (load port: a new channel, or a decode step resuming a saved
// state); a step with in_store_i writes its updated state to the output stream (store port).
//
// Output stream (valid/ready): a beat leaves the unit when it carries the step's result
// (out_y_valid_o, on the step's last beat) or a beat of the stored state (out_h_valid_o).
//
// Pipeline (one register stage per line; a beat accepted at edge 0 updates the state at
// edge PipelineDepth and its output is valid after edge PipelineDepth + 4):
//   S0  input register
//   S1  dt' = softplus(dt + bias) (delta_softplus fused), A operand (Mamba-2: scalar A)
//   S2  arg = dt' * A (d);  p = dt' * B_k (Mamba-1) or dt' * x (Mamba-2) (-> s)
//   S3  decay = exp(arg) (d -> s);  inc = p * u (Mamba-1) or p * B_k (Mamba-2) (-> s)
//   P   PipelineDepth - 4 delay stages (where retiming spreads the multipliers)
//   U   h = decay * h + inc (state register file written)
//   R1  sum over the lanes of h_k * C_k (exact, wide); float: the rounded products
//   R2  wide accumulator over the beats, one rounding into s on the last beat
//       (float: the products added in order k = 0..N-1, each sum rounded)
//   F1  D skip: y + D * u (d_skip fused);  silu(z) (silu_gate fused)
//   F2  gate: (y + D * u) * silu(z)  -> output register
// The whole pipeline advances when the output register is empty or being read.
//
// Written for Verilator and yosys 0.23 alike (rtl/scan_unit/README.md, "Synthesis"): no
// package, no multi-dimensional packed arrays, no whole-array assignments of unpacked
// arrays. Per-lane values travel in flat vectors, lane k in bits [k*W +: W].
module scan_unit #(
  // The profile's parameters (scan_cfg.svh; macros rather than a package for yosys).
  localparam int Lanes = `SCAN_LANES,
  localparam int MaxState = `SCAN_MAX_STATE,
  localparam int MaxBeats = `SCAN_MAX_BEATS,  // ceil(MaxState / Lanes)
  localparam int StateNW = `SCAN_STATE_NW,  // width of a state size 1..MaxState
  localparam int BeatW = `SCAN_BEAT_W,  // width of a beat index
  localparam int PipelineDepth = `SCAN_PIPELINE_DEPTH,  // cycles from input beat to state update
  localparam bit Mamba1 = `SCAN_MAMBA1,
  localparam bit Mamba2 = `SCAN_MAMBA2,
  localparam bit IsFloat = `SCAN_IS_FLOAT,  // float formats: behavioural FP block (DPI-C)
  localparam int DataType = `SCAN_DATA_TYPE,  // NumberType order: 0 fixed, 1 fp32, 2 bf16, 3 fp16
  localparam int StateType = `SCAN_STATE_TYPE,
  localparam int DataW = `SCAN_DATA_W,
  localparam int DataFrac = `SCAN_DATA_FRAC,
  localparam int StateW = `SCAN_STATE_W,
  localparam int StateFrac = `SCAN_STATE_FRAC,
  localparam int AccW = `SCAN_ACC_W,  // DataW + StateW + clog2(MaxState) + 1
  localparam bit FuseSoftplus = `SCAN_FUSE_SOFTPLUS,
  localparam bit FuseDSkip = `SCAN_FUSE_D_SKIP,
  localparam bit FuseSiluGate = `SCAN_FUSE_SILU_GATE,
  localparam int Log2eFrac = `SCAN_LOG2E_FRAC,
  localparam logic [Log2eFrac+1:0] Log2eRaw = `SCAN_LOG2E_RAW,  // round(log2(e) * 2^Log2eFrac)
  // Approximations (ApproxMethod order: 0 exact, 1 piecewise-linear, 2 shift-biased) and
  // their coefficient ROMs, knot i in bits [i*W +: W].
  localparam int ExpMethod = `SCAN_EXP_METHOD,
  localparam int ExpSegments = `SCAN_EXP_SEGMENTS,
  localparam int ExpLog2Range = `SCAN_EXP_LOG2_RANGE,
  localparam int ExpLog2Length = `SCAN_EXP_LOG2_LENGTH,
  localparam logic [(ExpSegments+1)*StateW-1:0] ExpKnots = `SCAN_EXP_KNOTS,
  localparam int SoftplusMethod = `SCAN_SOFTPLUS_METHOD,
  localparam int SoftplusSegments = `SCAN_SOFTPLUS_SEGMENTS,
  localparam int SoftplusLog2Range = `SCAN_SOFTPLUS_LOG2_RANGE,
  localparam int SoftplusLog2Length = `SCAN_SOFTPLUS_LOG2_LENGTH,
  localparam logic [(SoftplusSegments+1)*DataW-1:0] SoftplusKnots = `SCAN_SOFTPLUS_KNOTS,
  localparam int SiluMethod = `SCAN_SILU_METHOD,
  localparam int SiluSegments = `SCAN_SILU_SEGMENTS,
  localparam int SiluLog2Range = `SCAN_SILU_LOG2_RANGE,
  localparam int SiluLog2Length = `SCAN_SILU_LOG2_LENGTH,
  localparam logic [(SiluSegments+1)*DataW-1:0] SiluKnots = `SCAN_SILU_KNOTS
) (
  input  logic                             clk_i,
  input  logic                             rst_ni,
  // Input stream: one beat of one step.
  input  logic                             in_valid_i,
  output logic                             in_ready_o,
  input  logic                             in_mode_i,      // 0: Mamba-1, 1: Mamba-2
  input  logic [       StateNW-1:0]        in_state_n_i,   // N of the step, 1..MaxState
  input  logic                             in_load_i,      // start from in_h_i (load port)
  input  logic                             in_store_i,     // emit the updated state (store port)
  input  logic                             in_softplus_i,  // dt' = softplus(dt + bias)
  input  logic                             in_d_skip_i,    // out = y + D * u
  input  logic                             in_gate_i,      // out *= silu(z)
  input  logic [         DataW-1:0]        in_dt_i,        // dt (raw delta, or dt' from the vector unit)
  input  logic [         DataW-1:0]        in_bias_i,      // delta bias (delta_softplus fused)
  input  logic [         DataW-1:0]        in_u_i,         // u (Mamba-1) or x (Mamba-2)
  input  logic [         DataW-1:0]        in_d_i,         // D
  input  logic [         DataW-1:0]        in_z_i,         // z
  input  logic [         DataW-1:0]        in_a_i,         // A of the head (Mamba-2)
  // Lane vectors: lane k in bits [k*DataW +: DataW] (in_h_i, out_h_o: [k*StateW +: StateW]).
  input  logic [ Lanes*DataW-1:0]          in_a_lanes_i,   // A[k] of the channel (Mamba-1)
  input  logic [ Lanes*DataW-1:0]          in_b_i,         // B[k]
  input  logic [ Lanes*DataW-1:0]          in_c_i,         // C[k]
  input  logic [Lanes*StateW-1:0]          in_h_i,         // starting state h[k] (with in_load_i)
  // Output stream.
  output logic                             out_valid_o,
  input  logic                             out_ready_i,
  output logic                             out_y_valid_o,  // out_y_o is the step's result
  output logic [        StateW-1:0]        out_y_o,        // y with the fused post-ops (s)
  output logic                             out_h_valid_o,  // out_h_o is a beat of the stored state
  output logic [         BeatW-1:0]        out_beat_o,     // which beat of the state
  output logic [Lanes*StateW-1:0]          out_h_o
);

  // Per-lane values travel in flat vectors (lane k in bits [k*W +: W]: whole-vector
  // assignments, which both tools accept), control and the per-step scalars in small
  // packed structs.
  typedef logic [DataW-1:0] data_t;
  typedef logic [StateW-1:0] state_t;
  typedef logic [Lanes*DataW-1:0] data_lanes_t;
  typedef logic [Lanes*StateW-1:0] state_lanes_t;

  typedef struct packed {
    logic             mode;
    logic             load;
    logic             store;
    logic             first;  // first beat of the step
    logic             last;   // last beat of the step
    logic             d_skip;
    logic             gate;
    logic [BeatW-1:0] beat;
    logic [Lanes-1:0] lane_en;  // lanes holding state elements < N
  } ctrl_t;

  // What the post-op stages still need of the control.
  typedef struct packed {
    logic             last;
    logic             store;
    logic             d_skip;
    logic             gate;
    logic [BeatW-1:0] beat;
  } tail_t;

  // What the reduction stages need of the control.
  typedef struct packed {
    logic             first;
    logic [Lanes-1:0] lane_en;
    tail_t            tail;
  } red_t;

  typedef struct packed {
    data_t u;
    data_t d;
    data_t z;
  } post_t;

  localparam int NumPre = PipelineDepth - 3;  // S3 and the delay stages

  logic advance;  // every stage moves one step (the output register is free)
  logic in_fire;

  // ---------------------------------------------------------------------------------------
  // Input: beat counter and lane enables.

  logic [BeatW-1:0] beat_q, beat_d, last_beat;
  logic [Lanes-1:0] lane_en;

  assign advance = ~out_valid_o | out_ready_i;
  assign in_ready_o = advance;
  assign in_fire = in_valid_i & in_ready_o;

  always_comb begin
    last_beat = BeatW'((32'(in_state_n_i) - 32'd1) / 32'(Lanes));
    beat_d = beat_q;
    if (in_fire) beat_d = (beat_q == last_beat) ? '0 : beat_q + BeatW'(1);
    for (int l = 0; l < Lanes; l++) begin
      lane_en[l] = 32'(beat_q) * 32'(Lanes) + 32'(l) < 32'(in_state_n_i);
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) beat_q <= '0;
    else beat_q <= beat_d;
  end

  // ---------------------------------------------------------------------------------------
  // S0: input register.

  logic s0_valid_q, s0_softplus_q;
  ctrl_t s0_ctrl_q, s0_ctrl_d;
  post_t s0_post_q, s0_post_d;
  data_t s0_dt_q, s0_bias_q, s0_a_q;
  data_lanes_t s0_a_lanes_q, s0_b_q, s0_c_q;
  state_lanes_t s0_h_q;

  always_comb begin
    s0_post_d.u       = in_u_i;
    s0_post_d.d       = in_d_i;
    s0_post_d.z       = in_z_i;
    s0_ctrl_d.mode    = in_mode_i;
    s0_ctrl_d.load    = in_load_i;
    s0_ctrl_d.store   = in_store_i;
    s0_ctrl_d.first   = beat_q == '0;
    s0_ctrl_d.last    = beat_q == last_beat;
    s0_ctrl_d.d_skip  = in_d_skip_i;
    s0_ctrl_d.gate    = in_gate_i;
    s0_ctrl_d.beat    = beat_q;
    s0_ctrl_d.lane_en = lane_en;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) s0_valid_q <= 1'b0;
    else if (advance) s0_valid_q <= in_valid_i;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      s0_ctrl_q     <= s0_ctrl_d;
      s0_softplus_q <= in_softplus_i;
      s0_dt_q       <= in_dt_i;
      s0_bias_q     <= in_bias_i;
      s0_a_q        <= in_a_i;
      s0_post_q     <= s0_post_d;
      s0_a_lanes_q  <= in_a_lanes_i;
      s0_b_q        <= in_b_i;
      s0_c_q        <= in_c_i;
      s0_h_q        <= in_h_i;
    end
  end

  // ---------------------------------------------------------------------------------------
  // S1: dt' and the A operand.

  logic s1_valid_q;
  ctrl_t s1_ctrl_q;
  post_t s1_post_q;
  data_t s1_dt_q, s1_dt_d;
  data_lanes_t s1_a_q, s1_a_d, s1_b_q, s1_c_q;
  state_lanes_t s1_h_q;
  data_t dt_biased, dt_softplus;

  if (FuseSoftplus) begin : g_softplus
    scan_add #(
      .IsFloat(IsFloat),
      .W      (DataW),
      .Type   (DataType)
    ) u_bias (
      .a_i(s0_dt_q),
      .b_i(s0_bias_q),
      .y_o(dt_biased)
    );
    scan_approx #(
      .IsFloat   (IsFloat),
      .Function  (1),
      .Method    (SoftplusMethod),
      .Segments  (SoftplusSegments),
      .Log2Range (SoftplusLog2Range),
      .Log2Length(SoftplusLog2Length),
      .InW       (DataW),
      .InF       (DataFrac),
      .InType    (DataType),
      .OutW      (DataW),
      .OutF      (DataFrac),
      .OutType   (DataType),
      .Knots     (SoftplusKnots)
    ) u_softplus (
      .x_i(dt_biased),
      .y_o(dt_softplus)
    );
  end else begin : g_no_softplus
    // dt' comes from the vector unit (softplus and bias in float32, then quantized); the
    // bias input is unused (zero).
    logic unused_bias;
    assign unused_bias = ^s0_bias_q;
    assign dt_biased   = s0_dt_q;
    assign dt_softplus = s0_dt_q;
  end

  always_comb begin
    s1_dt_d = s0_softplus_q ? dt_softplus : dt_biased;
    for (int k = 0; k < Lanes; k++) begin
      s1_a_d[k*DataW+:DataW] = s0_ctrl_q.mode ? s0_a_q : s0_a_lanes_q[k*DataW+:DataW];
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) s1_valid_q <= 1'b0;
    else if (advance) s1_valid_q <= s0_valid_q;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      s1_ctrl_q <= s0_ctrl_q;
      s1_post_q <= s0_post_q;
      s1_dt_q   <= s1_dt_d;
      s1_a_q    <= s1_a_d;
      s1_b_q    <= s0_b_q;
      s1_c_q    <= s0_c_q;
      s1_h_q    <= s0_h_q;
    end
  end

  // ---------------------------------------------------------------------------------------
  // S2: exp argument and the first factor of the increment, per lane.

  logic s2_valid_q;
  ctrl_t s2_ctrl_q;
  post_t s2_post_q;
  data_lanes_t arg, s2_arg_q, s2_m_d, s2_m_q, s2_c_q;
  state_lanes_t p, s2_p_q, s2_h_q;

  for (genvar k = 0; k < Lanes; k++) begin : g_s2
    scan_mul #(
      .IsFloat(IsFloat),
      .AW     (DataW),
      .AF     (DataFrac),
      .AType  (DataType),
      .BW     (DataW),
      .BF     (DataFrac),
      .BType  (DataType),
      .OW     (DataW),
      .OF     (DataFrac),
      .OType  (DataType)
    ) u_arg (
      .a_i(s1_dt_q),
      .b_i(s1_a_q[k*DataW+:DataW]),
      .y_o(arg[k*DataW+:DataW])
    );
    scan_mul #(
      .IsFloat(IsFloat),
      .AW     (DataW),
      .AF     (DataFrac),
      .AType  (DataType),
      .BW     (DataW),
      .BF     (DataFrac),
      .BType  (DataType),
      .OW     (StateW),
      .OF     (StateFrac),
      .OType  (StateType)
    ) u_p (
      .a_i(s1_dt_q),
      .b_i(s1_ctrl_q.mode ? s1_post_q.u : s1_b_q[k*DataW+:DataW]),
      .y_o(p[k*StateW+:StateW])
    );
    assign s2_m_d[k*DataW+:DataW] = s1_ctrl_q.mode ? s1_b_q[k*DataW+:DataW] : s1_post_q.u;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) s2_valid_q <= 1'b0;
    else if (advance) s2_valid_q <= s1_valid_q;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      s2_ctrl_q <= s1_ctrl_q;
      s2_post_q <= s1_post_q;
      s2_arg_q  <= arg;
      s2_p_q    <= p;
      s2_m_q    <= s2_m_d;
      s2_c_q    <= s1_c_q;
      s2_h_q    <= s1_h_q;
    end
  end

  // ---------------------------------------------------------------------------------------
  // S3 and the delay stages: decay and increment.

  logic [NumPre-1:0] pre_valid_q, pre_valid_d;
  ctrl_t pre_ctrl_q[NumPre];
  post_t pre_post_q[NumPre];
  state_lanes_t pre_decay_q[NumPre], pre_inc_q[NumPre], pre_h_q[NumPre];
  data_lanes_t pre_c_q[NumPre];
  state_lanes_t decay, inc;

  for (genvar k = 0; k < Lanes; k++) begin : g_s3
    scan_approx #(
      .IsFloat   (IsFloat),
      .Function  (0),
      .Method    (ExpMethod),
      .Segments  (ExpSegments),
      .Log2Range (ExpLog2Range),
      .Log2Length(ExpLog2Length),
      .InW       (DataW),
      .InF       (DataFrac),
      .InType    (DataType),
      .OutW      (StateW),
      .OutF      (StateFrac),
      .OutType   (StateType),
      .Knots     (ExpKnots),
      .Log2eFrac (Log2eFrac),
      .Log2eRaw  (Log2eRaw)
    ) u_exp (
      .x_i(s2_arg_q[k*DataW+:DataW]),
      .y_o(decay[k*StateW+:StateW])
    );
    scan_mul #(
      .IsFloat(IsFloat),
      .AW     (StateW),
      .AF     (StateFrac),
      .AType  (StateType),
      .BW     (DataW),
      .BF     (DataFrac),
      .BType  (DataType),
      .OW     (StateW),
      .OF     (StateFrac),
      .OType  (StateType)
    ) u_inc (
      .a_i(s2_p_q[k*StateW+:StateW]),
      .b_i(s2_m_q[k*DataW+:DataW]),
      .y_o(inc[k*StateW+:StateW])
    );
  end

  always_comb begin
    pre_valid_d[0] = s2_valid_q;
    for (int i = 1; i < NumPre; i++) pre_valid_d[i] = pre_valid_q[i-1];
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) pre_valid_q <= '0;
    else if (advance) pre_valid_q <= pre_valid_d;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      pre_ctrl_q[0]  <= s2_ctrl_q;
      pre_post_q[0]  <= s2_post_q;
      pre_decay_q[0] <= decay;
      pre_inc_q[0]   <= inc;
      pre_c_q[0]     <= s2_c_q;
      pre_h_q[0]     <= s2_h_q;
      for (int i = 1; i < NumPre; i++) begin
        pre_ctrl_q[i]  <= pre_ctrl_q[i-1];
        pre_post_q[i]  <= pre_post_q[i-1];
        pre_decay_q[i] <= pre_decay_q[i-1];
        pre_inc_q[i]   <= pre_inc_q[i-1];
        pre_c_q[i]     <= pre_c_q[i-1];
        pre_h_q[i]     <= pre_h_q[i-1];
      end
    end
  end

  // ---------------------------------------------------------------------------------------
  // U: state update h = decay * h + inc; the state register file holds one channel.

  ctrl_t pu_ctrl;  // the beat entering the update
  logic pu_valid;
  state_lanes_t pu_decay, pu_inc, pu_h;
  data_lanes_t pu_c;
  assign pu_ctrl  = pre_ctrl_q[NumPre-1];
  assign pu_valid = pre_valid_q[NumPre-1];
  assign pu_decay = pre_decay_q[NumPre-1];
  assign pu_inc   = pre_inc_q[NumPre-1];
  assign pu_h     = pre_h_q[NumPre-1];
  assign pu_c     = pre_c_q[NumPre-1];

  // The register file: one row of Lanes state elements per beat.
  state_lanes_t rf_q[MaxBeats];
  state_lanes_t rf_row, h_old, h_new, rf_row_d;
  logic rf_we;
  logic upd_valid_q;
  red_t upd_ctrl_q, upd_ctrl_d;
  post_t upd_post_q;
  state_lanes_t upd_h_q;
  data_lanes_t upd_c_q;

  assign rf_row = rf_q[pu_ctrl.beat];

  for (genvar k = 0; k < Lanes; k++) begin : g_upd
    state_t kept;
    assign h_old[k*StateW+:StateW] = pu_ctrl.load ? pu_h[k*StateW+:StateW] : rf_row[k*StateW+:StateW];
    // Mamba-1 multiplies decay * h, Mamba-2 h * decay (the golden operation order; the
    // same bits in fixed point, the same operand order for the FP block).
    scan_mul #(
      .IsFloat(IsFloat),
      .AW     (StateW),
      .AF     (StateFrac),
      .AType  (StateType),
      .BW     (StateW),
      .BF     (StateFrac),
      .BType  (StateType),
      .OW     (StateW),
      .OF     (StateFrac),
      .OType  (StateType)
    ) u_keep (
      .a_i(pu_ctrl.mode ? h_old[k*StateW+:StateW] : pu_decay[k*StateW+:StateW]),
      .b_i(pu_ctrl.mode ? pu_decay[k*StateW+:StateW] : h_old[k*StateW+:StateW]),
      .y_o(kept)
    );
    scan_add #(
      .IsFloat(IsFloat),
      .W      (StateW),
      .Type   (StateType)
    ) u_add (
      .a_i(kept),
      .b_i(pu_inc[k*StateW+:StateW]),
      .y_o(h_new[k*StateW+:StateW])
    );
    assign rf_row_d[k*StateW+:StateW] = pu_ctrl.lane_en[k] ? h_new[k*StateW+:StateW] : rf_row[k*StateW+:StateW];
  end

  always_comb begin
    upd_ctrl_d.first       = pu_ctrl.first;
    upd_ctrl_d.lane_en     = pu_ctrl.lane_en;
    upd_ctrl_d.tail.last   = pu_ctrl.last;
    upd_ctrl_d.tail.store  = pu_ctrl.store;
    upd_ctrl_d.tail.d_skip = pu_ctrl.d_skip;
    upd_ctrl_d.tail.gate   = pu_ctrl.gate;
    upd_ctrl_d.tail.beat   = pu_ctrl.beat;
  end

  assign rf_we = advance & pu_valid;

  always_ff @(posedge clk_i) begin
    if (rf_we) rf_q[pu_ctrl.beat] <= rf_row_d;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) upd_valid_q <= 1'b0;
    else if (advance) upd_valid_q <= pu_valid;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      upd_ctrl_q <= upd_ctrl_d;
      upd_post_q <= pre_post_q[NumPre-1];
      upd_h_q    <= h_new;
      upd_c_q    <= pu_c;
    end
  end

  // ---------------------------------------------------------------------------------------
  // R1, R2: y = <h, C>.

  logic r1_valid_q, r2_valid_q;
  logic r1_first_q;
  tail_t r1_ctrl_q, r2_ctrl_q;
  post_t r1_post_q, r2_post_q;
  state_lanes_t r1_h_q, r2_h_q;
  state_t y, r2_y_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      r1_valid_q <= 1'b0;
      r2_valid_q <= 1'b0;
    end else if (advance) begin
      r1_valid_q <= upd_valid_q;
      r2_valid_q <= r1_valid_q;
    end
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      r1_first_q <= upd_ctrl_q.first;
      r1_ctrl_q  <= upd_ctrl_q.tail;
      r1_post_q <= upd_post_q;
      r1_h_q    <= upd_h_q;
      r2_ctrl_q <= r1_ctrl_q;
      r2_post_q <= r1_post_q;
      r2_h_q    <= r1_h_q;
      r2_y_q    <= y;
    end
  end

  if (!IsFloat) begin : g_dot_fixed
    // The exact products summed exactly (order-independent), one RNE shift by DataFrac
    // (h has StateFrac, C DataFrac fraction bits), saturation into s.
    localparam int PW = StateW + DataW;
    logic [AccW-1:0] beat_sum_d, beat_sum_q, acc_q, total;
    logic [AccW:0] total_wide;

    always_comb begin
      beat_sum_d = '0;
      for (int k = 0; k < Lanes; k++) begin
        if (upd_ctrl_q.lane_en[k]) begin
          beat_sum_d = beat_sum_d + AccW'($signed(PW'($signed(upd_h_q[k*StateW+:StateW])) *
                                                  PW'($signed(upd_c_q[k*DataW+:DataW]))));
        end
      end
    end
    assign total_wide = (AccW + 1)'($signed(r1_first_q ? '0 : acc_q)) + (AccW + 1)'($signed(beat_sum_q));
    assign total = total_wide[AccW-1:0];
    scan_rescale #(.InW(AccW), .Shift(DataFrac), .OutW(StateW)) u_round (.x_i(total), .y_o(y));

    always_ff @(posedge clk_i) begin
      if (advance) begin
        beat_sum_q <= beat_sum_d;
        if (r1_valid_q) acc_q <= total;
      end
    end

`ifndef SYNTHESIS
    // The accumulator is wide enough for any N <= MaxState: it never wraps.
    a_acc_no_overflow :
    assert property (@(posedge clk_i) disable iff (!rst_ni) r1_valid_q |-> total_wide[AccW] == total_wide[AccW-1])
    else $error("scan_unit: <h, C> accumulator overflow");
`endif
  end else begin : g_dot_float
    // Float: each product rounded to s, added to the running sum in order k = 0..N-1 with
    // each sum rounded (FloatOps::accumulate), starting from +0.
    state_lanes_t prod_d, prod_q;
    state_t acc_q, chain;
    logic [Lanes-1:0] r1_lane_en_q;

    for (genvar k = 0; k < Lanes; k++) begin : g_prod
      scan_mul #(
        .IsFloat(1'b1),
        .AW     (StateW),
        .AType  (StateType),
        .BW     (DataW),
        .BType  (DataType),
        .OW     (StateW),
        .OType  (StateType)
      ) u_prod (
        .a_i(upd_h_q[k*StateW+:StateW]),
        .b_i(upd_c_q[k*DataW+:DataW]),
        .y_o(prod_d[k*StateW+:StateW])
      );
    end

    always_comb begin
      chain = r1_first_q ? '0 : acc_q;
      for (int k = 0; k < Lanes; k++) begin
        if (r1_lane_en_q[k]) begin
          chain = StateW'(scan_fp_pkg::ssm_fp_add(32'(chain), 32'(prod_q[k*StateW+:StateW]), StateType));
        end
      end
    end
    assign y = chain;

    always_ff @(posedge clk_i) begin
      if (advance) begin
        prod_q <= prod_d;
        r1_lane_en_q <= upd_ctrl_q.lane_en;
        if (r1_valid_q) acc_q <= chain;
      end
    end
  end

  // ---------------------------------------------------------------------------------------
  // F1, F2: the fused post-ops.

  logic f1_valid_q, f1_last_q, f1_store_q, f1_gate_q;
  logic [BeatW-1:0] f1_beat_q;
  state_t f1_o_q, f1_o_d;
  data_t f1_sz_q;
  state_lanes_t f1_h_q;
  state_t skip_sum, gated;
  data_t silu_z;

  if (FuseDSkip) begin : g_d_skip
    state_t du;
    scan_mul #(
      .IsFloat(IsFloat),
      .AW     (DataW),
      .AF     (DataFrac),
      .AType  (DataType),
      .BW     (DataW),
      .BF     (DataFrac),
      .BType  (DataType),
      .OW     (StateW),
      .OF     (StateFrac),
      .OType  (StateType)
    ) u_du (
      .a_i(r2_post_q.d),
      .b_i(r2_post_q.u),
      .y_o(du)
    );
    scan_add #(
      .IsFloat(IsFloat),
      .W      (StateW),
      .Type   (StateType)
    ) u_skip (
      .a_i(r2_y_q),
      .b_i(du),
      .y_o(skip_sum)
    );
  end else begin : g_no_d_skip
    assign skip_sum = r2_y_q;
  end

  if (FuseSiluGate) begin : g_silu
    scan_approx #(
      .IsFloat   (IsFloat),
      .Function  (2),
      .Method    (SiluMethod),
      .Segments  (SiluSegments),
      .Log2Range (SiluLog2Range),
      .Log2Length(SiluLog2Length),
      .InW       (DataW),
      .InF       (DataFrac),
      .InType    (DataType),
      .OutW      (DataW),
      .OutF      (DataFrac),
      .OutType   (DataType),
      .Knots     (SiluKnots)
    ) u_silu (
      .x_i(r2_post_q.z),
      .y_o(silu_z)
    );
    scan_mul #(
      .IsFloat(IsFloat),
      .AW     (StateW),
      .AF     (StateFrac),
      .AType  (StateType),
      .BW     (DataW),
      .BF     (DataFrac),
      .BType  (DataType),
      .OW     (StateW),
      .OF     (StateFrac),
      .OType  (StateType)
    ) u_gate (
      .a_i(f1_o_q),
      .b_i(f1_sz_q),
      .y_o(gated)
    );
  end else begin : g_no_silu
    logic unused_sz;
    assign unused_sz = ^{f1_sz_q, r2_post_q.z};
    assign silu_z = '0;
    assign gated  = f1_o_q;
  end

  assign f1_o_d = r2_ctrl_q.d_skip ? skip_sum : r2_y_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) f1_valid_q <= 1'b0;
    else if (advance) f1_valid_q <= r2_valid_q;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      f1_last_q  <= r2_ctrl_q.last;
      f1_store_q <= r2_ctrl_q.store;
      f1_gate_q  <= r2_ctrl_q.gate;
      f1_beat_q  <= r2_ctrl_q.beat;
      f1_o_q    <= f1_o_d;
      f1_sz_q   <= silu_z;
      f1_h_q    <= r2_h_q;
    end
  end

  // ---------------------------------------------------------------------------------------
  // Output register.

  logic out_valid_q, out_valid_d, out_y_valid_q, out_h_valid_q;
  logic [BeatW-1:0] out_beat_q;
  state_t out_y_q, y_out;
  state_lanes_t out_h_q;

`ifdef PLANT_BUG
  // Test-only fault: flips bit 2 of the eighth result after reset, so that the harness
  // must name that element and its cycle.
  logic [3:0] bug_count_q;
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) bug_count_q <= '0;
    else if (advance && f1_valid_q && f1_last_q && bug_count_q != 4'hf) bug_count_q <= bug_count_q + 4'd1;
  end
  assign y_out = (f1_gate_q ? gated : f1_o_q) ^ ((bug_count_q == 4'd7) ? StateW'(4) : '0);
`else
  assign y_out = f1_gate_q ? gated : f1_o_q;
`endif

  assign out_valid_d = f1_valid_q & (f1_last_q | f1_store_q);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) out_valid_q <= 1'b0;
    else if (advance) out_valid_q <= out_valid_d;
  end
  always_ff @(posedge clk_i) begin
    if (advance) begin
      out_y_valid_q <= f1_last_q;
      out_h_valid_q <= f1_store_q;
      out_beat_q    <= f1_beat_q;
      out_y_q       <= y_out;
      out_h_q       <= f1_h_q;
    end
  end

  assign out_valid_o   = out_valid_q;
  assign out_y_valid_o = out_y_valid_q;
  assign out_y_o       = out_y_q;
  assign out_h_valid_o = out_h_valid_q;
  assign out_beat_o    = out_beat_q;
  assign out_h_o       = out_h_q;

  // ---------------------------------------------------------------------------------------
  // Assertions (enabled in the Verilated builds with --assert).

`ifndef SYNTHESIS
  // The operands of one step, held over its beats.
  logic [StateNW-1:0] step_n_q;
  logic step_mode_q, step_load_q, step_store_q;
  always_ff @(posedge clk_i) begin
    if (in_fire && beat_q == '0) begin
      step_n_q     <= in_state_n_i;
      step_mode_q  <= in_mode_i;
      step_load_q  <= in_load_i;
      step_store_q <= in_store_i;
    end
  end

  // Valid implies known data.
  a_in_known :
  assert property (@(posedge clk_i) disable iff (!rst_ni) in_valid_i |-> !$isunknown(
      {in_mode_i, in_state_n_i, in_load_i, in_store_i, in_softplus_i, in_d_skip_i, in_gate_i, in_dt_i, in_bias_i,
       in_u_i, in_d_i, in_z_i, in_a_i, in_a_lanes_i, in_b_i, in_c_i}
  ))
  else $error("scan_unit: input beat with unknown operands");
  a_in_load_known :
  assert property (@(posedge clk_i) disable iff (!rst_ni) in_valid_i && in_load_i |-> !$isunknown(in_h_i))
  else $error("scan_unit: load with an unknown state");
  a_out_known :
  assert property (@(posedge clk_i) disable iff (!rst_ni) out_valid_o |-> !$isunknown(
      {out_y_valid_o, out_h_valid_o, out_beat_o, out_y_o}
  ))
  else $error("scan_unit: output beat with unknown data");
  // The state size is one the unit holds, the mode and the post-ops ones it has.
  a_in_state_n :
  assert property (@(posedge clk_i) disable iff (!rst_ni)
      in_valid_i |-> in_state_n_i >= StateNW'(1) && 32'(in_state_n_i) <= 32'(MaxState))
  else $error("scan_unit: N outside 1..MaxState");
  a_in_mode :
  assert property (@(posedge clk_i) disable iff (!rst_ni) in_valid_i |-> (in_mode_i ? Mamba2 : Mamba1))
  else $error("scan_unit: recurrence mode not supported by this unit");
  a_in_fused :
  assert property (@(posedge clk_i) disable iff (!rst_ni) in_valid_i |->
      (!in_softplus_i || FuseSoftplus) && (!in_d_skip_i || FuseDSkip) && (!in_gate_i || FuseSiluGate))
  else $error("scan_unit: post-op requested that the unit does not fuse");
  // Valid/ready: an offered beat stays offered until taken; a step's beats agree.
  a_in_hold :
  assert property (@(posedge clk_i) disable iff (!rst_ni) $past(in_valid_i && !in_ready_o) |-> in_valid_i)
  else $error("scan_unit: in_valid_i dropped before the beat was taken");
  a_step_consistent :
  assert property (@(posedge clk_i) disable iff (!rst_ni) in_valid_i && beat_q != '0 |->
      in_state_n_i == step_n_q && in_mode_i == step_mode_q && in_load_i == step_load_q && in_store_i == step_store_q)
  else $error("scan_unit: the beats of one step disagree on N, mode, load or store");
  a_out_hold :
  assert property (@(posedge clk_i) disable iff (!rst_ni) $past(out_valid_o && !out_ready_i) |-> out_valid_o)
  else $error("scan_unit: out_valid_o dropped before the beat was taken");
  // The beat index addresses the register file.
  a_beat_range :
  assert property (@(posedge clk_i) disable iff (!rst_ni) pu_valid |-> 32'(pu_ctrl.beat) < 32'(MaxBeats))
  else $error("scan_unit: beat index outside the state register file");
`endif

endmodule
