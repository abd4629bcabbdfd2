// The compiler's passes on small hand-checked inputs, its kernel choices per silicon, the
// memory plan, rejected inputs and determinism.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "arch/spec/config_tree.hpp"
#include "compiler/compiler.hpp"
#include "tests/support.hpp"

namespace ssmsoc::compiler {
namespace {

const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new test::TempDirCleanup);

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = test::temp_dir() / name;
  std::ofstream(path) << text;
  return path;
}

// A 2-layer Mamba-1: H = 32, d_inner = 64, N = 4, d_conv = 4, dt_rank = 2, vocab 128.
const char* kTinyMamba =
    "name: tiny-mamba\nsource: hand-made\nmodel_type: mamba\nhidden_size: 32\nintermediate_size: 64\n"
    "num_hidden_layers: 2\nstate_size: 4\nconv_kernel: 4\ntime_step_rank: 2\nvocab_size: 128\n"
    "tie_word_embeddings: true\n";

ModelSpec tiny_mamba() { return load_model(write_file("tiny-mamba.yaml", kTinyMamba)); }
ModelSpec shipped(const std::string& name) { return load_model("workloads/models/" + name + ".yaml"); }
Scenario scenario(int prompt_tokens, int generate_tokens) {
  Scenario s;
  s.prompt_tokens = prompt_tokens;
  s.generate_tokens = generate_tokens;
  return s;
}

std::string expect_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return "";
}

// --- frontends ------------------------------------------------------------------------------

TEST(Frontend, YamlCarriesHfKeysNameAndSource) {
  const ModelSpec m = tiny_mamba();
  EXPECT_EQ(m.name, "tiny-mamba");
  EXPECT_EQ(m.source, "hand-made");
  EXPECT_EQ(m.mamba.version, 1);
  EXPECT_EQ(m.mamba.d_inner, 64);
  EXPECT_EQ(m.mamba.dt_rank, 2);
}

TEST(Frontend, CheckpointFolderLoadsFromConfigAlone) {
  const ModelSpec m = load_model(std::string(SSMSOC_TEST_DATA_DIR) + "/models/mamba2");
  EXPECT_EQ(m.model_type, "mamba2");
  EXPECT_EQ(m.mamba.version, 2);
}

TEST(Frontend, ConfigJsonAndYamlGiveTheSameShapes) {
  const auto json = write_file("config.json",
                               R"({"model_type": "mamba", "hidden_size": 32, "intermediate_size": 64,
                                   "num_hidden_layers": 2, "state_size": 4, "conv_kernel": 4,
                                   "time_step_rank": 2, "vocab_size": 128, "tie_word_embeddings": true,
                                   "bos_token_id": 0})");
  const ModelSpec a = load_model(json), b = tiny_mamba();
  EXPECT_EQ(parameter_count(a), parameter_count(b));
  EXPECT_EQ(a.mamba.d_state, b.mamba.d_state);
}

TEST(Frontend, ParameterCountOfMamba130mIsItsPublishedSize) {
  EXPECT_NEAR(parameter_count(shipped("mamba-130m")) / 1e6, 129.1, 1.0);
  EXPECT_NEAR(parameter_count(shipped("mamba-2.8b")) / 1e9, 2.77, 0.03);
  EXPECT_NEAR(parameter_count(shipped("llama-2-7b")) / 1e9, 6.74, 0.02);
}

TEST(Frontend, bad_unknown_model_type_names_file_line_and_key) {
  const auto file = write_file("bad-type.yaml", "name: x\nsource: y\nmodel_type: rwkv\nhidden_size: 8\n");
  const std::string e = expect_error([&] { load_model(file); });
  EXPECT_NE(e.find("bad-type.yaml:3:1: model_type: \"rwkv\" is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("llama"), std::string::npos) << e;
}

TEST(Frontend, bad_missing_key_is_named) {
  std::string text = kTinyMamba;
  text.replace(text.find("state_size: 4\n"), 14, "");
  const std::string e = expect_error([&] { load_model(write_file("missing.yaml", text)); });
  EXPECT_NE(e.find("missing.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("state_size: missing"), std::string::npos) << e;
}

TEST(Frontend, bad_misspelt_key_is_unknown_with_a_suggestion) {
  std::string text = kTinyMamba;
  text += "conv_kernal: 4\n";
  const std::string e = expect_error([&] { load_model(write_file("typo.yaml", text)); });
  EXPECT_NE(e.find("typo.yaml:12:1: conv_kernal: unknown key for model_type mamba (did you mean 'conv_kernel'?)"),
            std::string::npos)
      << e;
}

TEST(Frontend, bad_workload_without_source) {
  const auto file = write_file("nosource.yaml", "name: x\nmodel_type: mamba\n");
  EXPECT_NE(expect_error([&] { load_model(file); }).find("source: missing"), std::string::npos);
}

TEST(Frontend, bad_ill_typed_value) {
  std::string text = kTinyMamba;
  text.replace(text.find("hidden_size: 32"), 15, "hidden_size: big");
  const std::string e = expect_error([&] { load_model(write_file("typed.yaml", text)); });
  EXPECT_NE(e.find("typed.yaml:4:1: hidden_size: expected an integer"), std::string::npos) << e;
}

TEST(Frontend, bad_scenario_key) {
  const auto file = write_file("s.yaml", "prompt: 10\ngenerate: 2\nbacth: 4\n");
  EXPECT_NE(expect_error([&] { load_scenario(file); }).find("bacth"), std::string::npos);
}

// --- graph and recognition ------------------------------------------------------------------

TEST(BuildGraph, Mamba130mHasEmbeddingThreeNodesPerLayerNormAndHead) {
  EXPECT_EQ(build_graph(shipped("mamba-130m")).nodes.size(), 2u + 24 * 3 + 1);
}

TEST(RecognizeArchitecture, MambaIsPureSsmGenerationOne) {
  const auto c = recognize_architecture(build_graph(shipped("mamba-2.8b")));
  EXPECT_EQ(c.model_class, ModelClass::pure_ssm);
  EXPECT_EQ(c.ssm_generation, 1);
  EXPECT_FALSE(c.moe);
}

TEST(RecognizeArchitecture, Mamba2IsGenerationTwo) {
  EXPECT_EQ(recognize_architecture(build_graph(shipped("mamba2-130m"))).ssm_generation, 2);
}

TEST(RecognizeArchitecture, JambaIsHybridMoe) {
  const auto c = recognize_architecture(build_graph(shipped("jamba-1.5-mini")));
  EXPECT_EQ(c.model_class, ModelClass::hybrid);
  EXPECT_EQ(c.ssm_generation, 1);
  EXPECT_EQ(c.attention_layers, 4);
  EXPECT_EQ(c.ssm_layers, 28);
  EXPECT_EQ(c.moe_layers, 16);
  EXPECT_NE(c.summary.find("MoE in 16 layers (16 experts, top-2)"), std::string::npos) << c.summary;
}

TEST(RecognizeArchitecture, FalconH1IsParallelHybrid) {
  EXPECT_TRUE(recognize_architecture(build_graph(shipped("falcon-h1-1.5b"))).parallel_hybrid);
}

TEST(RecognizeArchitecture, Zamba2SharesOneAttentionBlock) {
  const auto c = recognize_architecture(build_graph(shipped("zamba2-2.7b")));
  EXPECT_TRUE(c.shared_attention);
  EXPECT_EQ(c.model_class, ModelClass::hybrid);
}

TEST(RecognizeArchitecture, LlamaIsTransformer) {
  const auto c = recognize_architecture(build_graph(shipped("llama-3.2-1b")));
  EXPECT_EQ(c.model_class, ModelClass::transformer);
  EXPECT_EQ(c.ssm_generation, 0);
  EXPECT_NE(c.summary.find("GQA 32:8"), std::string::npos);
}

// --- lowering -------------------------------------------------------------------------------

TEST(LowerGraph, Mamba1LayerIsNormGemmConvGemmsScanGemmAdd) {
  const Module m = lower_graph(build_graph(tiny_mamba()), Phase{"prefill", 4, 1, 0, 8, true, false}, Precision::bf16);
  std::vector<std::string> layer0;
  for (const PrimOp& op : m.ops)
    if (op.layer == 0) layer0.push_back(std::string(prim_name(op.kind)));
  // norm, in_proj, conv, x_proj, dt_proj (reading the first columns of x_proj's bf16 output),
  // scan (its output converted in SRAM), out_proj, residual add.
  const std::vector<std::string> expected = {"vector", "gemm", "conv1d", "gemm", "gemm", "scan", "gemm", "vector"};
  EXPECT_EQ(layer0, expected);
  const auto conv =
      std::find_if(m.ops.begin(), m.ops.end(), [](const PrimOp& o) { return o.name == "layers.0.mamba.conv1d"; });
  ASSERT_NE(conv, m.ops.end());
  // In a bf16 run the activations between a mixer's ops are bf16: the conv's one output feeds
  // the scan and x_proj. In an int8 run they stay float32, and the conv also writes its output
  // in int8 for x_proj.
  ASSERT_EQ(conv->out.size(), 1u);
  EXPECT_EQ(m.tensors[std::size_t(conv->out[0].tensor)].bits, 16);
  const Module int8 =
      lower_graph(build_graph(tiny_mamba()), Phase{"prefill", 4, 1, 0, 8, true, false}, Precision::int8);
  const auto conv8 =
      std::find_if(int8.ops.begin(), int8.ops.end(), [](const PrimOp& o) { return o.name == "layers.0.mamba.conv1d"; });
  ASSERT_NE(conv8, int8.ops.end());
  ASSERT_EQ(conv8->out.size(), 2u);
  EXPECT_EQ(int8.tensors[std::size_t(conv8->out[0].tensor)].bits, 32);
  EXPECT_EQ(int8.tensors[std::size_t(conv8->out[1].tensor)].bits, 8);
  const auto in_proj =
      std::find_if(m.ops.begin(), m.ops.end(), [](const PrimOp& o) { return o.name == "layers.0.mamba.in_proj"; });
  ASSERT_NE(in_proj, m.ops.end());
  EXPECT_EQ(in_proj->m, 4);
  EXPECT_EQ(in_proj->n, 128);
  EXPECT_EQ(in_proj->k, 32);
}

TEST(LowerGraph, AttentionIsGemmSoftmaxGemmOverTheKvCache) {
  const Module m =
      lower_graph(build_graph(shipped("llama-3.2-1b")), Phase{"decode", 1, 2, 100, 200, true, false}, Precision::bf16);
  const auto at = std::find_if(m.ops.begin(), m.ops.end(), [](const PrimOp& o) { return o.kind == Prim::attention; });
  ASSERT_NE(at, m.ops.end());
  EXPECT_EQ(at->heads, 32);
  EXPECT_EQ(at->kv_heads, 8);
  EXPECT_EQ(at->context, 100);
  EXPECT_EQ(m.tensors[at->in[1].tensor].rows, 2 * 200);  // KV cache of 2 sessions x 200 tokens
}

TEST(LowerGraph, MoeRunsTopKExpertsPerToken) {
  const Module m =
      lower_graph(build_graph(shipped("jamba-1.5-mini")), Phase{"decode", 1, 1, 10, 20, true, false}, Precision::bf16);
  const auto e = std::find_if(m.ops.begin(), m.ops.end(),
                              [](const PrimOp& o) { return o.name.find("expert_up") != std::string::npos; });
  ASSERT_NE(e, m.ops.end());
  EXPECT_EQ(e->repeat, 2);  // top-2 of 16 experts for one token
}

// Every op of every shipped workload reads and writes inside its tensors: a vector op's rows
// and a view's columns within the tensor (views start at row 0), a GEMM's repeat x m rows of
// A and C and its weights' rows. (A MoE combine once wrote its top_k x tokens rows into the
// tokens-row output.)
TEST(LowerGraph, EveryOpStaysInsideItsTensors) {
  for (const auto& entry : std::filesystem::directory_iterator("workloads/models")) {
    const std::string name = entry.path().stem().string();
    for (const Phase& phase :
         {Phase{"prefill", 24, 2, 0, 48, true, false}, Phase{"decode", 1, 3, 40, 48, true, false}}) {
      SCOPED_TRACE(name + " " + phase.name);
      const Module m = lower_graph(build_graph(shipped(name)), phase, Precision::bf16);
      for (const PrimOp& op : m.ops) {
        SCOPED_TRACE(op.name);
        for (const auto* views : {&op.in, &op.out})
          for (const View& v : *views) {
            if (v.tensor < 0) continue;
            const TensorDef& t = m.tensors.at(static_cast<std::size_t>(v.tensor));
            EXPECT_LE(v.col0 + (v.cols ? v.cols : t.cols), t.cols) << t.name;
            if (op.kind == Prim::vector && t.kind == TensorKind::activation) {
              EXPECT_LE(op.rows, t.rows) << t.name;
            }
          }
        if (op.kind == Prim::gemm) {
          EXPECT_LE(op.repeat * op.m, m.tensors.at(static_cast<std::size_t>(op.in[0].tensor)).rows);
          EXPECT_LE(op.repeat * op.m, m.tensors.at(static_cast<std::size_t>(op.out[0].tensor)).rows);
          EXPECT_LE(op.repeat * op.n, m.tensors.at(static_cast<std::size_t>(op.in[1].tensor)).rows);
        }
      }
    }
  }
}

// Each residual add of a GEMM's output folds into that GEMM: one per Mamba layer (out_proj),
// two per transformer layer (o_proj, down_proj), also with Pythia's parallel residual
// (x + attn + mlp: the second add's residual is the first fused GEMM's output). MoE experts
// (repeat > 1) keep their add.
TEST(FuseResidualAdds, FoldsEachAddOfAGemmOutputIntoTheGemm) {
  struct Case {
    const char* model;
    int per_layer;
  };
  for (const Case& c :
       {Case{"mamba-130m", 1}, Case{"mamba2-130m", 1}, Case{"llama-3.2-1b", 2}, Case{"pythia-160m", 2}}) {
    SCOPED_TRACE(c.model);
    const ModelSpec spec = shipped(c.model);
    const Module lowered = lower_graph(build_graph(spec), Phase{"prefill", 8, 2, 0, 16, true, false}, Precision::bf16);
    Module fused = lowered;
    const int adds = fuse_residual_adds(fused);
    EXPECT_EQ(adds, c.per_layer * spec.num_layers);
    EXPECT_EQ(fused.ops.size() + std::size_t(adds), lowered.ops.size());
    int with_residual = 0;
    std::map<int, std::size_t> written_at;  // tensor -> op index
    for (std::size_t i = 0; i < fused.ops.size(); ++i) {
      const PrimOp& op = fused.ops[i];
      if (op.kind == Prim::gemm && op.in.size() == 3) {
        ++with_residual;
        // The residual has the output's shape and exists before the GEMM runs.
        const TensorDef &r = fused.tensors.at(op.in[2].tensor), &out = fused.tensors.at(op.out[0].tensor);
        EXPECT_EQ(r.rows, op.m);
        EXPECT_EQ(r.cols, op.n);
        EXPECT_EQ(out.rows, op.m);
        EXPECT_EQ(out.bits, 32);
        const auto w = written_at.find(op.in[2].tensor);
        if (w != written_at.end()) {
          EXPECT_LT(w->second, i);
        }
        // What the add wrote, the GEMM writes: the same tensor as before fusion.
        const auto before = std::find_if(lowered.ops.begin(), lowered.ops.end(), [&](const PrimOp& o) {
          return o.kind == Prim::vector && o.function == SSM_VEC_ADD && o.out[0].tensor == op.out[0].tensor;
        });
        EXPECT_NE(before, lowered.ops.end()) << op.name;
      }
      for (const View& v : op.out) written_at.emplace(v.tensor, i);
    }
    EXPECT_EQ(with_residual, adds);
  }
  // Jamba: the MoE layers' expert sums stay separate adds; the attention and dense MLP
  // projections fuse.
  Module jamba =
      lower_graph(build_graph(shipped("jamba-1.5-mini")), Phase{"decode", 1, 1, 10, 20, true, false}, Precision::bf16);
  fuse_residual_adds(jamba);
  for (const PrimOp& op : jamba.ops)
    if (op.kind == Prim::gemm && op.in.size() == 3) {
      EXPECT_EQ(op.repeat, 1) << op.name;
    }
}

// --- scan-kernel selection per silicon ------------------------------------------------------

ScanKernel prefill_kernel(const std::string& model, const std::string& profile, std::string* reason = nullptr) {
  Module m = lower_graph(build_graph(shipped(model)), Phase{"prefill", 256, 1, 0, 256, false, false}, Precision::bf16);
  select_scan_kernels(m, load_profile(profile));
  for (const PrimOp& op : m.ops)
    if (op.kind == Prim::scan) {
      if (reason) *reason = op.kernel_reason;
      return op.kernel;
    }
  ADD_FAILURE() << "no scan op";
  return ScanKernel::native;
}

TEST(SelectScanKernels, KrsnaRunsBothGenerationsNatively) {
  for (const char* p : {"krsna-mobile", "krsna-dc"}) {
    EXPECT_EQ(prefill_kernel("mamba-130m", p), ScanKernel::native) << p;
    EXPECT_EQ(prefill_kernel("mamba2-130m", p), ScanKernel::native) << p;
  }
  std::string reason;
  prefill_kernel("mamba-130m", "krsna-wear", &reason);
  EXPECT_NE(reason.find("native-scan-unit (8 lanes/tile, N=16 <= max_state 64"), std::string::npos) << reason;
}

TEST(SelectScanKernels, KrsnaWearFallsBackForMamba2StateOf128) {
  std::string reason;
  EXPECT_EQ(prefill_kernel("mamba2-130m", "krsna-wear", &reason), ScanKernel::chunked_ssd);
  EXPECT_NE(reason.find("N=128 exceeds the scan unit's max_state 64"), std::string::npos) << reason;
  EXPECT_NE(reason.find("native-scan-unit-state-split (2 passes)"), std::string::npos) << reason;
}

TEST(SelectScanKernels, GpuUsesParallelPrefixForMamba1AndChunkedSsdForMamba2) {
  std::string reason;
  EXPECT_EQ(prefill_kernel("mamba-130m", "h100-class", &reason), ScanKernel::parallel_prefix);
  EXPECT_NE(reason.find("h100-class has no scan unit (gpu)"), std::string::npos) << reason;
  EXPECT_EQ(prefill_kernel("mamba2-130m", "h100-class"), ScanKernel::chunked_ssd);
}

TEST(SelectScanKernels, CpuUsesSequentialVectorScan) {
  for (const char* p : {"xeon-amx-class", "cortex-a-neon-class"}) {
    EXPECT_EQ(prefill_kernel("mamba-130m", p), ScanKernel::sequential_vector) << p;
    EXPECT_EQ(prefill_kernel("mamba2-130m", p), ScanKernel::sequential_vector) << p;
  }
}

TEST(SelectScanKernels, HexagonUsesChunkedSsdForMamba2) {
  std::string reason;
  EXPECT_EQ(prefill_kernel("mamba2-130m", "hexagon-npu-class", &reason), ScanKernel::chunked_ssd);
  EXPECT_NE(reason.find("chose chunked-ssd-matrix by the cost model"), std::string::npos) << reason;
  EXPECT_EQ(prefill_kernel("mamba-130m", "hexagon-npu-class"), ScanKernel::sequential_vector);
}

// --- cost model -----------------------------------------------------------------------------

TEST(CostModel, ScanCyclesAreOneBeatPerStepPlusPipelineAndOutputStages) {
  // krsna-mobile: 32 lanes, depth 6: 64 channels x 10 steps of ceil(16 / 32) = 1 beat, + 6 + 5.
  const Profile profile = load_profile("krsna-mobile");
  const CostModel cost(profile);
  EXPECT_DOUBLE_EQ(cost.scan_cycles(64, 1, 16, 10), 640 + 11);
}

TEST(CostModel, VectorPassIsElementsTimesCostOverLanesPlusLatency) {
  const Profile p = load_profile("krsna-wear");  // 16 lanes; exp 3 cycles/element, latency 10
  EXPECT_DOUBLE_EQ(CostModel(p).vector_cycles(SSM_VEC_EXP, 2, 80), 160 * 3 / 16 + 10);
}

// A transfer in a stream on a DMA engine with O transfers in flight (Little's law): its
// bytes' time, or its bytes' and latency's time over O, whichever is longer; a command
// waiting for the stream's last transfer sees (O - 1) / O of the latency beyond that. With
// one in flight, the lone transfer's latency + bytes, and nothing beyond. krsna-dc: 64 tiles
// share 2,048 B/cycle of DRAM (32 B/cycle each); a DRAM load's latency is 450 + 3 cycles.
TEST(CostModel, TransfersInAStreamFollowLittlesLaw) {
  Profile p = load_profile("krsna-dc");
  for (const int outstanding : {1, 2, 16}) {
    SCOPED_TRACE(outstanding);
    p.tile.dma.outstanding_transfers = outstanding;
    const CostModel cost(p);
    const double latency = cost.dma_cycles(0, true, 64);
    EXPECT_DOUBLE_EQ(latency, 453.0);
    for (const std::int64_t bytes : {std::int64_t{512}, std::int64_t{32768}}) {
      const double moving = double(bytes) / 32;
      EXPECT_DOUBLE_EQ(cost.dma_cycles(bytes, true, 64), latency + moving);
      EXPECT_DOUBLE_EQ(cost.dma_stream_cycles(bytes, true, 64), std::max(moving, (moving + latency) / outstanding));
    }
    EXPECT_DOUBLE_EQ(cost.dma_exposed_latency(true), latency * (outstanding - 1) / outstanding);
  }
}

// --- memory plan ----------------------------------------------------------------------------

TEST(PlanMemory, StatePerSessionAndSessionsThatFitAreHandComputed) {
  const Profile p = load_profile("krsna-wear");  // global buffer 1 MiB, DRAM 2 GiB
  Scenario s = scenario(16, 4);
  const CompileResult r = compile(tiny_mamba(), s, p);
  // Per layer: conv state 64 x 4 floats + SSM state 64 x 4 floats = 2048 B; 2 layers; plus
  // the kept last hidden state (32 floats) for the logits Program.
  EXPECT_EQ(r.memory.state_bytes_per_session, 2u * (64 * 4 + 64 * 4) * 4 + 32 * 4);
  EXPECT_EQ(r.memory.kv_bytes_per_session, 0u);
  for (const ssm_memory m : r.memory.activation_memory) EXPECT_EQ(m, SSM_MEM_GLOBAL_BUFFER);
  EXPECT_EQ(r.memory.state_memory, SSM_MEM_GLOBAL_BUFFER);
  const std::uint64_t arena = (r.memory.activation_bytes + 63) / 64 * 64;
  EXPECT_EQ(r.memory.sessions_on_chip, static_cast<std::int64_t>((1u << 20) - arena) / 4224);
  EXPECT_EQ(r.memory.sessions_in_dram,
            static_cast<std::int64_t>((std::uint64_t(2) << 30) - r.memory.weight_bytes) / 4224);
}

TEST(PlanMemory, KvCacheGrowsWithContext) {
  const Profile p = load_profile("krsna-dc");
  Scenario s = scenario(100, 28);
  const CompileResult r = compile(shipped("llama-3.2-1b"), s, p);
  // 16 layers x (K + V) x 8 kv heads x 64 x 128 tokens x 2 bytes (bf16).
  EXPECT_EQ(r.memory.kv_bytes_per_session, 16u * 2 * 8 * 64 * 128 * 2);
}

// Decode of 32 Mamba-130M sessions on krsna-mobile: the arena (the logits alone are 32 x
// 50,280 x 4 = 6.4 MB) does not fit the 4 MiB global buffer but is under four times it, so it
// splits: tensors that fit stay on chip, the rest spill into DRAM; tensors live at once never
// share bytes in either part, and in_dram follows the split.
TEST(PlanMemory, AnArenaSomewhatOverTheGlobalBufferSplitsTensorByTensor) {
  const Profile p = load_profile("krsna-mobile");
  Scenario s = scenario(16, 4);
  s.batch = 32;
  const CompileResult r = compile(shipped("mamba-130m"), s, p);
  const std::uint64_t gb = std::uint64_t(p.global_buffer.size_bytes);
  int split = 0;
  for (std::size_t i = 0; i < r.phases.size(); ++i) {
    const Module& mod = r.phases[i].lowered;
    const MemoryPlan& plan = r.memory;
    if (plan.spill_bytes.at(i) == 0) continue;
    ++split;
    EXPECT_EQ(plan.activation_memory.at(i), SSM_MEM_GLOBAL_BUFFER);
    EXPECT_LE(plan.arena_address.at(i) + plan.arena_bytes.at(i), gb);
    // Liveness per tensor, then no two live-at-once tensors of one part overlap.
    std::vector<std::int64_t> first(mod.tensors.size(), -1), last(mod.tensors.size(), -1);
    for (std::size_t o = 0; o < mod.ops.size(); ++o)
      for (const auto* views : {&mod.ops[o].in, &mod.ops[o].out})
        for (const View& v : *views) {
          if (v.tensor < 0) continue;
          if (first[v.tensor] < 0) first[v.tensor] = std::int64_t(o);
          last[v.tensor] = std::int64_t(o);
        }
    int on_chip = 0, spilled = 0;
    for (std::size_t a = 0; a < mod.tensors.size(); ++a) {
      if (mod.tensors[a].kind != TensorKind::activation || first[a] < 0) continue;
      const bool a_spilled = plan.activation_spilled.at(i).at(a);
      (a_spilled ? spilled : on_chip) += 1;
      EXPECT_EQ(in_dram(mod, int(a), plan, i), a_spilled);
      const std::uint64_t a0 = std::uint64_t(plan.activation_offsets.at(i).at(a)), a1 = a0 + mod.tensors[a].bytes();
      EXPECT_LE(a1, a_spilled ? plan.spill_bytes.at(i) : plan.arena_bytes.at(i));
      for (std::size_t b = a + 1; b < mod.tensors.size(); ++b) {
        if (mod.tensors[b].kind != TensorKind::activation || first[b] < 0) continue;
        if (plan.activation_spilled.at(i).at(b) != a_spilled || last[a] < first[b] || last[b] < first[a]) continue;
        const std::uint64_t b0 = std::uint64_t(plan.activation_offsets.at(i).at(b)), b1 = b0 + mod.tensors[b].bytes();
        EXPECT_TRUE(a1 <= b0 || b1 <= a0) << mod.tensors[a].name << " and " << mod.tensors[b].name;
      }
    }
    EXPECT_GT(on_chip, 0);
    EXPECT_GT(spilled, 0);
    // The logits, the largest, spill.
    for (const PrimOp& op : mod.ops)
      if (op.name == "lm_head.gemm") {
        EXPECT_TRUE(plan.activation_spilled.at(i).at(std::size_t(op.out[0].tensor)));
      }
  }
  EXPECT_GT(split, 0) << dump_memory_plan(r.memory);
}

TEST(PlanMemory, bad_weights_beyond_dram_name_the_limit) {
  Scenario s = scenario(16, 2);
  const std::string e = expect_error([&] { compile(shipped("jamba-1.5-mini"), s, load_profile("krsna-wear")); });
  EXPECT_NE(e.find("jamba-1.5-mini: weights of"), std::string::npos) << e;
  EXPECT_NE(e.find("do not fit the 2.00 GiB DRAM of krsna-wear (dram.capacity_bytes)"), std::string::npos) << e;
}

TEST(PlanMemory, bad_state_cache_beyond_dram) {
  Scenario s = scenario(100000, 0);
  s.batch = 64;
  const std::string e = expect_error([&] {
    CompileOptions o;
    o.prefill_chunk = 64;
    compile(shipped("llama-3.2-1b"), s, load_profile("krsna-mobile"), o);
  });
  EXPECT_NE(e.find("state cache"), std::string::npos) << e;
}

// --- codegen, programs, stages ----------------------------------------------------------------

TEST(Compile, ProgramsValidateAgainstEveryProfile) {
  Scenario s = scenario(40, 3);
  s.batch = 2;
  for (const auto& file : shipped_profile_files()) {
    const Profile p = load_profile_file(file);
    for (const char* m : {"mamba-130m", "mamba2-130m"}) {
      const CompileResult r = compile(shipped(m), s, p);
      for (const auto& phase : r.phases)
        EXPECT_NO_THROW(validate_program(phase.program, phase.name, &p)) << p.name << " " << m;
    }
  }
}

TEST(Compile, PhasesArePrefillChunksLogitsAndDecode) {
  Scenario s = scenario(300, 5);
  CompileOptions o;
  o.prefill_chunk = 128;  // an exact chunk: 2 x 128, then a rest of 44
  const CompileResult r = compile(shipped("mamba-130m"), s, load_profile("krsna-mobile"), o);
  ASSERT_EQ(r.phases.size(), 4u);
  EXPECT_EQ(r.phases[0].name, "prefill");
  EXPECT_EQ(r.phases[0].phase.tokens, 128);
  EXPECT_EQ(r.phases[0].runs, 2);
  EXPECT_EQ(r.phases[1].name, "prefill-rest");
  EXPECT_EQ(r.phases[1].phase.tokens, 44);
  EXPECT_EQ(r.phases[2].name, "logits");
  EXPECT_EQ(r.phases[3].name, "decode");
  EXPECT_EQ(r.phases[3].runs, 4);
}

// Without --prefill-chunk the mapper picks the candidate chunk whose whole prompt the cost
// model finds fastest, in equal chunks (1,000 tokens at a 256 target: 4 x 250), a smaller
// one unless a larger is more than 3 % faster.
TEST(Compile, TheMapperChoosesTheFastestPrefillChunk) {
  for (const auto& [model, profile, prompt] :
       {std::tuple{"mamba-790m", "krsna-mobile", 1024}, std::tuple{"mamba2-370m", "krsna-dc", 1000},
        std::tuple{"mamba-130m", "krsna-wear", 700}}) {
    SCOPED_TRACE(std::string(model) + " on " + profile);
    Scenario s = scenario(prompt, 2);
    CompileOptions o;
    o.validate = false;
    const Profile p = load_profile(profile);
    const CompileResult chosen = compile(shipped(model), s, p, o);
    auto prefill = [](const CompileResult& r) {
      double cycles = 0;
      std::int64_t tokens = 0;
      for (const PhaseProgram& ph : r.phases)
        if (ph.name.rfind("prefill", 0) == 0)
          cycles += ph.estimated_cycles * ph.runs, tokens += ph.phase.tokens * ph.runs;
      return std::pair{cycles, tokens};
    };
    EXPECT_EQ(prefill(chosen).second, prompt);
    const int chunk = chosen.phases[0].phase.tokens;
    const int target = *std::find_if(std::begin(kPrefillChunkCandidates), std::end(kPrefillChunkCandidates),
                                     [&](int c) { return c >= chunk; });
    EXPECT_EQ(chunk, (prompt + (prompt + target - 1) / target - 1) / ((prompt + target - 1) / target));
    for (const int candidate : kPrefillChunkCandidates) {
      if (candidate / 2 >= prompt) break;
      // The candidate's equal chunks, given exactly.
      const int count = (prompt + candidate - 1) / candidate;
      o.prefill_chunk = (prompt + count - 1) / count;
      const double other = prefill(compile(shipped(model), s, p, o)).first;
      // Faster than every smaller candidate, within 3 % of every larger one (these Programs
      // are all small to simulate).
      if (candidate < target) {
        EXPECT_LT(prefill(chosen).first, other) << candidate;
      } else {
        EXPECT_LE(prefill(chosen).first, other / 0.97) << candidate;
      }
    }
    o.prefill_chunk = 0;
  }
}

TEST(Compile, UnevenPromptGetsARestChunk) {
  Scenario s = scenario(100, 1);
  CompileOptions o;
  o.prefill_chunk = 64;
  const CompileResult r = compile(shipped("mamba-130m"), s, load_profile("krsna-mobile"), o);
  ASSERT_EQ(r.phases.size(), 3u);
  EXPECT_EQ(r.phases[1].name, "prefill-rest");
  EXPECT_EQ(r.phases[1].phase.tokens, 36);
}

TEST(Compile, SameInputsGiveByteIdenticalPrograms) {
  Scenario s = scenario(64, 2);
  const Profile p = load_profile("krsna-mobile");
  const CompileResult a = compile(shipped("zamba2-2.7b"), s, p), b = compile(shipped("zamba2-2.7b"), s, p);
  ASSERT_EQ(a.phases.size(), b.phases.size());
  for (std::size_t i = 0; i < a.phases.size(); ++i)
    EXPECT_EQ(encode_program(a.phases[i].program), encode_program(b.phases[i].program)) << a.phases[i].name;
}

TEST(Compile, EncodedProgramDecodesBack) {
  Scenario s = scenario(16, 2);
  const CompileResult r = compile(tiny_mamba(), s, load_profile("krsna-wear"));
  for (const auto& phase : r.phases) {
    const auto bytes = encode_program(phase.program);
    EXPECT_EQ(decode_program(bytes, phase.name).command_count(), phase.program.command_count());
  }
}

TEST(Compile, ScanCommandsUseTheChosenEngine) {
  Scenario s = scenario(16, 2);
  auto scans = [&](const char* profile) {
    std::size_t n = 0;
    for (const auto& phase : compile(shipped("mamba-130m"), s, load_profile(profile)).phases)
      for (const auto& st : phase.program.streams)
        for (const auto& c : st.commands) n += c.head.opcode == SSM_OP_SCAN;
    return n;
  };
  EXPECT_GT(scans("krsna-mobile"), 0u);
  EXPECT_EQ(scans("h100-class"), 0u);  // software scan: vector and matrix commands
}

TEST(Emit, EveryStageIsDumpable) {
  Scenario s = scenario(8, 2);
  const CompileResult r = compile(tiny_mamba(), s, load_profile("krsna-wear"));
  for (const auto& stage : stage_names()) EXPECT_FALSE(emit(r, stage).empty()) << stage;
  EXPECT_NE(emit(r, "graph").find("mamba1"), std::string::npos);
  EXPECT_NE(emit(r, "kernels").find("native-scan-unit"), std::string::npos);
  EXPECT_NE(emit(r, "program").find("scan"), std::string::npos);
}

TEST(Emit, bad_unknown_stage_lists_the_stages) {
  Scenario s = scenario(8, 1);
  const CompileResult r = compile(tiny_mamba(), s, load_profile("krsna-wear"));
  EXPECT_NE(expect_error([&] { emit(r, "asm"); }).find("stages: graph, lowered"), std::string::npos);
}

TEST(Compile, bad_precision_the_profile_lacks) {
  Scenario s;
  CompileOptions o;
  o.precision = "fp64";
  EXPECT_NE(expect_error([&] { compile(tiny_mamba(), s, load_profile("krsna-wear"), o); }).find("no fp64 matrix unit"),
            std::string::npos);
}

TEST(Compile, bad_scenario_range) {
  Scenario s;
  s.batch = 0;
  EXPECT_NE(expect_error([&] { compile(tiny_mamba(), s, load_profile("krsna-wear")); }).find("batch: 0"),
            std::string::npos);
}

// Shapes that once produced blocks outside their tile SRAM: aligned slots past an unaligned
// budget (conv1d of 160 channels over 9 tiles of 64 KiB: 18 channels x 225 tokens took 65,600
// bytes), and the bf16 attention probabilities' block sized as float32 by the ISA's extent
// rule (pythia-160m). Every op's blocks fit, and every Program validates.
TEST(Compile, BlocksStayInsideTheTileSram) {
  const auto nine_cus = test::write_file("nine-cu.yaml", R"(base: mi300-class
description: nine CUs of mi300-class (64 KiB each)
tiles:
  count: 9
  grid: {rows: 3, cols: 3}
)");
  const auto tiny_mamba2 = write_file("tiny-mamba2.yaml", R"(name: tiny-mamba2
source: hand-made
model_type: mamba2
hidden_size: 64
num_hidden_layers: 1
state_size: 16
n_groups: 1
head_dim: 16
num_heads: 8
expand: 2
conv_kernel: 4
chunk_size: 64
vocab_size: 128
tie_word_embeddings: true
)");
  struct Case {
    ModelSpec model;
    Profile profile;
    int prompt;
  };
  for (const Case& c : {Case{load_model(tiny_mamba2), load_profile(nine_cus.string()), 256},
                        Case{shipped("pythia-160m"), load_profile("h100-class"), 1024},
                        Case{shipped("pythia-160m"), load_profile("krsna-wear"), 1024},
                        Case{shipped("pythia-160m"), load_profile("krsna-dc"), 1024}}) {
    SCOPED_TRACE(c.model.name + " on " + c.profile.name);
    Scenario s = scenario(c.prompt, 2);
    const CompileResult r = compile(c.model, s, c.profile);  // validates every Program
    for (const PhaseProgram& p : r.phases)
      for (const TiledOp& t : p.tiled) EXPECT_LE(t.sram_bytes, c.profile.tile.sram.size_bytes) << t.name;
  }
}

TEST(Compile, PrefillChunkOptionSetsTheChunk) {
  Scenario s = scenario(300, 2);
  CompileOptions o;
  o.prefill_chunk = 100;
  const CompileResult r = compile(tiny_mamba(), s, load_profile("krsna-mobile"), o);
  ASSERT_GE(r.phases.size(), 1u);
  EXPECT_EQ(r.phases[0].name, "prefill");
  EXPECT_EQ(r.phases[0].phase.tokens, 100);
  EXPECT_EQ(r.phases[0].runs, 3);
  EXPECT_EQ(r.phases[1].name, "logits");
}

// Every shipped workload compiles on every kind of chip (a scan accelerator of each size and
// a CPU) into Programs that validate and blocks that fit, or is refused because its weights
// do not fit the DRAM.
class ShippedWorkloadsCompile : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedWorkloadsCompile, OrAreRefusedForTheirDram) {
  const Profile profile = load_profile(GetParam());
  Scenario s = scenario(64, 2);
  int compiled = 0;
  for (const auto& entry : std::filesystem::directory_iterator("workloads/models")) {
    const std::string name = entry.path().stem().string();
    SCOPED_TRACE(name);
    try {
      const CompileResult r = compile(shipped(name), s, profile);
      for (const PhaseProgram& p : r.phases)
        for (const TiledOp& t : p.tiled) EXPECT_LE(t.sram_bytes, profile.tile.sram.size_bytes) << t.name;
      ++compiled;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("do not fit the"), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(compiled, 8);  // the small models fit everywhere
}

INSTANTIATE_TEST_SUITE_P(Profiles, ShippedWorkloadsCompile,
                         ::testing::Values("krsna-wear", "krsna-mobile", "krsna-dc", "cortex-a-neon-class"),
                         test::param_name);

}  // namespace
// --- GEMM mapping in prefill ---------------------------------------------------------------

// Bytes the DMAs of a Program read from DRAM (a codegen count: rows x row bytes).
std::uint64_t dram_read_bytes(const Program& program) {
  std::uint64_t bytes = 0;
  for (const ProgramStream& s : program.streams)
    for (const ssm_command& c : s.commands)
      if (c.head.opcode == SSM_OP_DMA && program.buffers.at(c.dma.src.buffer).memory == SSM_MEM_DRAM)
        bytes += std::uint64_t(c.dma.row_bytes) * c.dma.rows;
  return bytes;
}

// A prefill chunk reads each weight byte from DRAM once: the GEMMs split by n keep all the
// chunk's tokens in one m block (the weight block is used for every token) and read A from
// a global-buffer copy, so DRAM reads stay within 1.3x of the weights plus one read of each
// op's activation and state inputs (before: 5.6x on mamba-130m, A read by every tile).
TEST(GemmMapping, PrefillChunkReadsEachWeightByteOnce) {
  Scenario s = scenario(512, 2);
  const CompileResult r = compile(shipped("mamba-130m"), s, load_profile("krsna-mobile"));
  const PhaseProgram& prefill = r.phases.at(0);
  ASSERT_EQ(prefill.name, "prefill");
  std::uint64_t weights = 0, inputs = 0;
  for (const TensorDef& t : prefill.lowered.tensors)
    if (t.kind == TensorKind::weight) weights += t.bytes();
  for (const PrimOp& op : prefill.lowered.ops)
    for (const View& v : op.in)
      if (v.tensor >= 0 && prefill.lowered.tensors.at(v.tensor).kind != TensorKind::weight)
        inputs += prefill.lowered.tensors.at(v.tensor).bytes();
  const std::uint64_t read = dram_read_bytes(prefill.program);
  EXPECT_GE(read, weights);
  EXPECT_LE(double(read), 1.3 * double(weights + inputs))
      << read << " bytes read, weights " << weights << ", activation and state inputs " << inputs;
}

// In a bf16 run the activations between a mixer's ops are bf16 (the residual stream stays
// float32): Mamba-2's in_proj output, the conv's and the scan's. The engines work in float32:
// the DMA widens each such load into tile SRAM and narrows each store out of it. In an fp32
// run nothing converts, and the bf16 prefill moves fewer bytes across DRAM.
TEST(ActivationPrecision, BlockActivationsAreBf16AndTheDmaConverts) {
  Scenario s = scenario(512, 2);
  const Profile profile = load_profile("krsna-mobile");
  CompileOptions bf16, fp32;
  bf16.prefill_chunk = fp32.prefill_chunk = 512;
  fp32.precision = "fp32";
  Profile with_fp32 = profile;
  with_fp32.tile.matrix.macs_per_cycle[Precision::fp32] = 128;
  const CompileResult half = compile(shipped("mamba2-130m"), s, profile, bf16);
  const CompileResult full = compile(shipped("mamba2-130m"), s, with_fp32, fp32);
  const PhaseProgram& prefill = half.phases.at(0);
  auto bits = [&](const Module& m, const std::string& name) {
    const int t = m.tensor(name);
    EXPECT_GE(t, 0) << name;
    return t < 0 ? 0 : m.tensors.at(std::size_t(t)).bits;
  };
  for (const char* name : {"layers.0.mamba.zxbcdt", "layers.0.mamba.xbc", "layers.0.mamba.y"}) {
    EXPECT_EQ(bits(prefill.lowered, name), 16) << name;
    EXPECT_EQ(bits(full.phases.at(0).lowered, name), 32) << name;
  }
  EXPECT_EQ(bits(prefill.lowered, "layers.0.mamba.out"), 32);  // into the residual stream
  auto conversions = [](const Program& program, std::uint8_t flag) {
    std::uint64_t count = 0;
    for (const ProgramStream& st : program.streams)
      for (const ssm_command& c : st.commands)
        if (c.head.opcode == SSM_OP_DMA && (c.head.flags & flag)) {
          ++count;
          const bool widen = flag == SSM_DMA_WIDEN;
          EXPECT_EQ(program.buffers.at(widen ? c.dma.dst.buffer : c.dma.src.buffer).memory, SSM_MEM_TILE_SRAM);
          EXPECT_NE(program.buffers.at(widen ? c.dma.src.buffer : c.dma.dst.buffer).memory, SSM_MEM_TILE_SRAM);
          EXPECT_EQ(c.head.variant, SSM_BF16);
        }
    return count;
  };
  EXPECT_GT(conversions(prefill.program, SSM_DMA_WIDEN), 0u);
  EXPECT_GT(conversions(prefill.program, SSM_DMA_NARROW), 0u);
  EXPECT_EQ(conversions(full.phases.at(0).program, SSM_DMA_WIDEN), 0u);
  EXPECT_EQ(conversions(full.phases.at(0).program, SSM_DMA_NARROW), 0u);
  std::uint64_t half_activations = 0, full_activations = 0;
  for (const TensorDef& t : prefill.lowered.tensors)
    if (t.kind == TensorKind::activation) half_activations += t.bytes();
  for (const TensorDef& t : full.phases.at(0).lowered.tensors)
    if (t.kind == TensorKind::activation) full_activations += t.bytes();
  EXPECT_LT(double(half_activations), 0.75 * double(full_activations));
}

// An op whose SRAM region is apart from the previous op's (place_in_sram) loads its first
// weights before the barrier between them, while the previous op finishes: Mamba-130M's
// decode step on krsna-dc, every op small. Regions of consecutive placed ops never overlap
// and stay in the SRAM; in tile 0's DMA stream (sync points not folded: the barrier WAIT is
// a command) a prefetching op's first weight load comes before its barrier WAIT, and every
// other op's loads after it.
TEST(SramPlacement, AnOpApartFromThePreviousLoadsItsFirstWeightsBeforeTheBarrier) {
  const Profile profile = load_profile("krsna-dc");
  Scenario s = scenario(64, 3);
  const CompileResult r = compile(shipped("mamba-130m"), s, profile);
  const PhaseProgram& decode = r.phases.back();
  ASSERT_EQ(decode.name, "decode");
  const std::vector<SramPlacement> places = place_in_sram(decode.lowered, decode.mappings, profile);
  const std::uint64_t sram = static_cast<std::uint64_t>(profile.tile.sram.size_bytes);
  int prefetching = 0;
  for (std::size_t i = 0; i < places.size(); ++i) {
    const std::uint64_t end = places[i].base + decode.mappings[i].sram.total_bytes();
    EXPECT_LE(end, sram);
    if (!places[i].prefetch) {
      EXPECT_EQ(places[i].base, 0u);
      continue;
    }
    ++prefetching;
    const std::uint64_t previous_end = places[i - 1].base + decode.mappings[i - 1].sram.total_bytes();
    EXPECT_TRUE(end <= places[i - 1].base || places[i].base >= previous_end) << decode.mappings[i].name;
  }
  EXPECT_GT(prefetching, int(places.size()) / 2);

  const CodegenResult g =
      generate_program(decode.lowered, r.phases.size() - 1, r.memory, decode.mappings, profile, false);
  const ProgramStream& dma = g.program.streams.front();
  ASSERT_EQ(dma.tile, 0);
  ASSERT_EQ(dma.engine, SSM_ENGINE_DMA);
  const std::uint32_t barrier = 4 * static_cast<std::uint32_t>(profile.tile_count);
  // The position of each op's barrier WAIT and first weight load in the stream.
  std::map<std::uint32_t, std::size_t> wait_at, weight_at;
  for (std::size_t c = 0; c < dma.commands.size(); ++c) {
    const ssm_command& cmd = dma.commands[c];
    const std::uint32_t op = g.command_op.at(c);
    if (cmd.head.opcode == SSM_OP_WAIT && cmd.sync.semaphore == barrier) wait_at.emplace(op, c);
    if (cmd.head.opcode == SSM_OP_DMA && g.program.buffers.at(cmd.dma.src.buffer).kind == SSM_BUF_WEIGHTS)
      weight_at.emplace(op, c);
  }
  int checked = 0;
  for (const auto& [op, at] : weight_at) {
    if (!wait_at.count(op)) continue;  // the first op has no barrier before it
    if (places.at(op).prefetch) {
      EXPECT_LT(at, wait_at.at(op)) << decode.mappings.at(op).name;
      ++checked;
    } else {
      EXPECT_GT(at, wait_at.at(op)) << decode.mappings.at(op).name;
    }
  }
  EXPECT_GT(checked, 10);
}

// Mamba-2.8B's prefill on krsna-mobile: 7.7 k commands per prompt token with the first small
// GEMM blocks, 6.1 k after the staged, larger blocks, 5.6 k with the weights broadcast at the
// mapper's 512-token chunk, 5.9 k with out_proj's fused residual loaded per C block, 6.6 k
// with loads that overlap their latency (smaller blocks pay off), 7.2 k with the broadcast
// GEMMs' C stores and residual loads spread over the k steps (OpMapping::c_chunks: out_proj
// 1,131 k -> 955 k cycles a layer). The bound guards against a return to small blocks.
TEST(GemmMapping, Mamba2p8bPrefillChunkCommandCountIsBounded) {
  Scenario s = scenario(2048, 128);
  const CompileResult r = compile(shipped("mamba-2.8b"), s, load_profile("krsna-mobile"));
  const PhaseProgram& prefill = r.phases.at(0);
  ASSERT_EQ(prefill.name, "prefill");
  EXPECT_LT(prefill.program.command_count(), std::size_t(7'500 * prefill.phase.tokens));
}

// Fusion is on by default and `fuse = false` keeps every op: the fused Programs run fewer ops
// (per layer the residual add and dt_proj) and, with a 512-token chunk's activations in DRAM,
// read less of it for the same work (the add's two inputs become the accumulators' initial
// value: one [512 x 768] float32 read less per layer; dt is not read at all).
TEST(FuseResidualAdds, CompileFusesByDefaultAndMovesLessData) {
  Scenario s = scenario(512, 2);
  const Profile profile = load_profile("krsna-mobile");
  CompileOptions off;
  off.fuse = false;
  off.prefill_chunk = 512;
  EXPECT_TRUE(CompileOptions{}.fuse);
  CompileOptions on = off;
  on.fuse = true;
  const CompileResult fused = compile(shipped("mamba-130m"), s, profile, on);
  const CompileResult plain = compile(shipped("mamba-130m"), s, profile, off);
  const PhaseProgram &f = fused.phases.at(0), &p = plain.phases.at(0);
  ASSERT_EQ(f.phase.tokens, 512);
  EXPECT_EQ(f.lowered.ops.size() + 2 * 24, p.lowered.ops.size());
  // The residual stream ([512 x 768] float32, 1.5 MB a tensor) in DRAM: the global buffer
  // keeps smaller activations (plan_memory's split arena).
  for (const CompileResult* r : {&fused, &plain}) {
    const Module& mod = r->phases.at(0).lowered;
    int in_dram = 0;
    for (std::size_t t = 0; t < mod.tensors.size(); ++t)
      if (mod.tensors[t].kind == TensorKind::activation && mod.tensors[t].bytes() == 512u * 768 * 4)
        in_dram += r->memory.activation_spilled.at(0).at(t);
    EXPECT_GE(in_dram, 24);
  }
  // Per layer: the residual, and dt [512 x 1536] bf16 less the low-rank rows [512 x 48]
  // bf16 each tile reads (once: a tile's 96 channels are one block) and the weight.
  const std::int64_t tiles = profile.tile_count;
  const std::int64_t dt_saved = 512 * 1536 * 2 - tiles * 512 * 48 * 2 - 1536 * 48 * 2;
  EXPECT_LE(dram_read_bytes(f.program) + 24 * (512 * 768 * 4 + dt_saved), dram_read_bytes(p.program));
}

// dt_proj goes into the scan where the scan runs on the native unit (Mamba-1 only: Mamba-2's
// dt comes from in_proj): the scan reads dt's low-rank input and keeps the weight.
TEST(FuseDtProjections, Mamba1ScansOnTheNativeUnitTakeTheirProjection) {
  struct Case {
    const char* model;
    const char* profile;
    int fused;
  };
  for (const Case& c : {Case{"mamba-130m", "krsna-mobile", 24}, Case{"mamba-130m", "krsna-wear", 24},
                        Case{"mamba-130m", "h100-class", 0}, Case{"mamba2-130m", "krsna-mobile", 0},
                        Case{"jamba-1.5-mini", "krsna-dc", 28}}) {
    SCOPED_TRACE(std::string(c.model) + " on " + c.profile);
    const ModelSpec spec = shipped(c.model);
    Module m = lower_graph(build_graph(spec), Phase{"prefill", 8, 2, 0, 16, true, false}, Precision::bf16);
    select_scan_kernels(m, load_profile(c.profile));
    const Module before = m;
    EXPECT_EQ(fuse_dt_projections(m), c.fused);
    EXPECT_EQ(m.ops.size() + std::size_t(c.fused), before.ops.size());
    int with_dt = 0;
    for (const PrimOp& op : m.ops) {
      if (c.fused > 0) {
        EXPECT_FALSE(op.name.ends_with(".dt_proj")) << op.name;  // none is left
      }
      if (op.kind != Prim::scan || op.dt_rank == 0) continue;
      ++with_dt;
      ASSERT_EQ(op.in.size(), 10u);
      // dt's low-rank rows: the first dt_rank columns of x_proj's bf16 output, or (Jamba, whose
      // dt is normed first) a tensor of their own.
      const View& low_view = op.in[1];
      const TensorDef &low = m.tensors.at(low_view.tensor), &w = m.tensors.at(op.in[9].tensor);
      EXPECT_EQ(low_view.col0, 0);
      EXPECT_EQ(low_view.cols, op.dt_rank);
      EXPECT_EQ(low.cols, spec.mamba.bcdt_norms ? op.dt_rank : op.dt_rank + 2 * spec.mamba.d_state);
      EXPECT_EQ(low.rows, 2 * 8);
      EXPECT_EQ(low.bits, 16);
      EXPECT_EQ(w.kind, TensorKind::weight);
      EXPECT_EQ(w.rows, op.channels);
      EXPECT_EQ(w.cols, op.dt_rank);
      EXPECT_EQ(op.dt_rank, spec.mamba.dt_rank);
    }
    EXPECT_EQ(with_dt, c.fused);
  }
}

}  // namespace ssmsoc::compiler

namespace ssmsoc::compiler {
namespace {

// plan_kernels, its header's worked example: Mamba-130M decode on h100-class, one session:
// seven launches per layer (the converts dropped), the state update moving the float32 state
// both ways, the GEMMs their operands once in bf16.
TEST(PlanKernels, Mamba130mDecodeIsSevenLaunchesPerLayer) {
  Scenario s = scenario(64, 4);
  const Profile h100 = load_profile("h100-class");
  const CompileResult r = compile(shipped("mamba-130m"), s, h100);
  const PhaseProgram& decode = r.phases.back();
  ASSERT_EQ(decode.name, "decode");
  std::vector<std::string> layer0;
  for (const KernelCall& k : decode.launches)
    if (k.name.rfind("layers.0.", 0) == 0) layer0.push_back(k.name.substr(9));
  const std::vector<std::string> expected = {"norm.rmsnorm",  "mamba.in_proj", "mamba.conv1d",  "mamba.x_proj",
                                             "mamba.dt_proj", "mamba.scan",    "mamba.out_proj"};
  EXPECT_EQ(layer0, expected);
  for (const KernelCall& k : decode.launches) {
    EXPECT_EQ(decode.lowered.ops.at(std::size_t(k.op)).name, k.name);
    if (k.name == "layers.0.mamba.scan") {
      EXPECT_EQ(k.kind, KernelKind::state_update);
      // The state both ways, plus A [1536 x 16] and the per-channel vectors.
      EXPECT_GE(k.bytes, 1536.0 * 16 * 4 * 2 + 1536.0 * 16 * 2);
      EXPECT_LT(k.bytes, 1536.0 * 16 * 4 * 2 + 1536.0 * 16 * 4 + 1536.0 * 12 * 2);
    }
    if (k.name == "layers.0.mamba.in_proj") {
      EXPECT_EQ(k.kind, KernelKind::gemm);
      EXPECT_EQ(k.m, 1);
      EXPECT_EQ(k.n, 3072);
      EXPECT_EQ(k.k, 768);
      EXPECT_DOUBLE_EQ(k.bytes, (1.0 * 768 + 3072.0 * 768 + 3072) * 2);
    }
  }
  // The prompt in one pass, its Mamba-1 scans as selective scans of 64 tokens.
  const PhaseProgram& prefill = r.phases.front();
  EXPECT_EQ(prefill.phase.tokens, 64);
  int scans = 0;
  for (const KernelCall& k : prefill.launches)
    if (k.kind == KernelKind::selective_scan) {
      ++scans;
      EXPECT_EQ(k.length, 64);
      EXPECT_EQ(k.channels, 1536);
      EXPECT_EQ(k.state, 16);
    }
  EXPECT_EQ(scans, 24);
  // Mamba-2's prefill scan is the chunked SSD: tensor-core work in five launches.
  const CompileResult m2 = compile(shipped("mamba2-130m"), s, h100);
  const auto ssd = std::find_if(m2.phases.front().launches.begin(), m2.phases.front().launches.end(),
                                [](const KernelCall& k) { return k.name == "layers.0.mamba.scan"; });
  ASSERT_NE(ssd, m2.phases.front().launches.end());
  EXPECT_EQ(ssd->kind, KernelKind::chunked_ssd);
  EXPECT_EQ(ssd->launches, 5);
  EXPECT_GT(ssd->flops, 0);
  // A profile without kernels: Programs, no launches.
  const CompileResult native = compile(shipped("mamba-130m"), s, load_profile("krsna-mobile"));
  EXPECT_TRUE(native.phases.front().launches.empty());
  EXPECT_GT(native.phases.front().program.command_count(), 0u);
}

}  // namespace
}  // namespace ssmsoc::compiler
