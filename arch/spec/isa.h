/* The instruction set of the chip: the Program binary the compiler writes, the firmware
 * on the control core reads and the engines execute. Plain C (stdint.h only) so the
 * firmware can include it on a bare-metal core; the host side encodes, decodes and lists
 * it in program.{hpp,cpp}. All multi-byte fields are little-endian; every struct has a
 * fixed size and no padding (checked below).
 *
 * Layout of a Program, each section aligned to 8 bytes:
 *   ssm_program_header | ssm_buffer[buffer_count] | ssm_stream[stream_count]
 *   | ssm_command[command_count] | string table (NUL-terminated names)
 * A stream is a run of consecutive commands for one engine of one tile; streams run
 * concurrently and order themselves with semaphores: SSM_OP_SIGNAL / SSM_OP_WAIT commands,
 * or the sync points every engine command carries in its last words (since 1.4). */
#ifndef SSMSOC_ARCH_ISA_H
#define SSMSOC_ARCH_ISA_H

#include <stddef.h>
#include <stdint.h>

#define SSM_PROGRAM_MAGIC 0x504D5353u /* "SSMP" */
#define SSM_PROGRAM_VERSION_MAJOR 1u
/* 1.1: vector param2 (RoPE head dims), softmax input scale; 1.2: vector TOPK_MASK, ROW_B
 * flags; 1.3: TOPK_BIAS; 1.4: sync points in engine commands; 1.5: DMA WIDEN, NARROW; 1.6: their FP8 E4M3 */
#define SSM_PROGRAM_VERSION_MINOR 6u
#define SSM_MAX_SEMAPHORES 4096u
#define SSM_NO_BUFFER 0xFFFFu /* an absent optional operand */

typedef struct {
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t total_bytes;
  uint32_t buffer_count;
  uint32_t buffer_offset;
  uint32_t stream_count;
  uint32_t stream_offset;
  uint32_t command_count;
  uint32_t command_offset;
  uint32_t string_bytes;
  uint32_t string_offset;
  uint32_t semaphore_count;
  uint32_t reserved[4];
} ssm_program_header; /* 64 bytes */

/* Where a buffer lives. */
enum ssm_memory { SSM_MEM_DRAM = 0, SSM_MEM_GLOBAL_BUFFER = 1, SSM_MEM_TILE_SRAM = 2 };
/* What a buffer holds (for memory planning and statistics). */
enum ssm_buffer_kind { SSM_BUF_WEIGHTS = 0, SSM_BUF_ACTIVATIONS = 1, SSM_BUF_STATE = 2, SSM_BUF_SCRATCH = 3 };

typedef struct {
  uint32_t name;    /* offset of its name in the string table */
  uint8_t memory;   /* enum ssm_memory */
  uint8_t kind;     /* enum ssm_buffer_kind */
  uint16_t tile;    /* the tile whose SRAM holds it (SSM_MEM_TILE_SRAM only) */
  uint64_t address; /* byte address in that memory */
  uint64_t bytes;
  uint64_t reserved;
} ssm_buffer; /* 32 bytes */

enum ssm_engine { SSM_ENGINE_DMA = 0, SSM_ENGINE_MATRIX = 1, SSM_ENGINE_SCAN = 2, SSM_ENGINE_VECTOR = 3 };
#define SSM_ENGINE_COUNT 4u

typedef struct {
  uint16_t tile;
  uint8_t engine; /* enum ssm_engine */
  uint8_t reserved0;
  uint32_t first_command; /* index into the command table */
  uint32_t command_count;
  uint32_t reserved1;
} ssm_stream; /* 16 bytes */

/* An operand: a byte offset inside a buffer. buffer == SSM_NO_BUFFER: absent. */
typedef struct {
  uint16_t buffer;
  uint16_t reserved;
  uint32_t offset;
} ssm_ref; /* 8 bytes */

enum ssm_opcode {
  SSM_OP_DMA = 1,    /* copy rows of bytes between memories (strided, broadcast to tiles) */
  SSM_OP_GEMM = 2,   /* C (+)= A·B on the matrix array */
  SSM_OP_SCAN = 3,   /* a scan-unit kernel: selective scan, state update, SSD recurrence */
  SSM_OP_CONV1D = 4, /* depthwise causal conv1d (prefill or decode) on the vector unit */
  SSM_OP_VECTOR = 5, /* an element-wise, row-wise or reduction function on the vector unit */
  SSM_OP_SIGNAL = 6, /* when all earlier commands of the stream are done: semaphore += value */
  SSM_OP_WAIT = 7    /* hold the stream until semaphore >= value */
};

/* Precisions, in the order of the profile's precision names. */
enum ssm_precision {
  SSM_INT4 = 0,
  SSM_INT8 = 1,
  SSM_FP8 = 2,
  SSM_FP16 = 3,
  SSM_BF16 = 4,
  SSM_TF32 = 5,
  SSM_FP32 = 6,
  SSM_FP64 = 7
};

typedef struct {
  uint8_t opcode;  /* enum ssm_opcode */
  uint8_t flags;   /* per opcode */
  uint8_t variant; /* per opcode: precision, scan variant, vector function */
  uint8_t sync;    /* engine commands: SSM_SYNC_* (0 in SIGNAL/WAIT and before 1.4) */
} ssm_command_head;

/* Sync points of an engine command, in words[SSM_SYNC_WORD..31] (the end of every engine
 * command's padding): before the command is dispatched its stream waits until semaphore
 * words[26] >= words[27] (SSM_SYNC_WAIT0) and words[28] >= words[29] (SSM_SYNC_WAIT1); once
 * it and every earlier command of the stream completed, semaphore words[30] += words[31]
 * (SSM_SYNC_SIGNAL). Exactly as WAIT commands before it and a SIGNAL after it, in fewer
 * commands. */
#define SSM_SYNC_WAIT0 0x01u
#define SSM_SYNC_WAIT1 0x02u
#define SSM_SYNC_SIGNAL 0x04u
#define SSM_SYNC_WORD 26u

#define SSM_DMA_BROADCAST 0x01u /* write dst to every tile in tile_mask (dst is a tile buffer) */
/* Format conversion on the way, variant the narrow format (SSM_BF16 or SSM_FP16; SSM_FP8, OCP
 * FP8 E4M3, since 1.6): WIDEN reads rows of narrow floats and writes them as float32 (each
 * destination row 2 or 4 times row_bytes); NARROW reads float32 rows and writes them rounded
 * to nearest even (each destination row half or a quarter of row_bytes; E4M3 saturates at
 * +-448). row_bytes counts a source row's bytes; the narrow side's bytes are those that cross
 * the network and the memories (since 1.5). */
#define SSM_DMA_WIDEN 0x02u
#define SSM_DMA_NARROW 0x04u
typedef struct {
  ssm_command_head head;
  ssm_ref src, dst;
  uint32_t row_bytes, rows;
  uint32_t src_stride, dst_stride; /* bytes between row starts */
  uint32_t tile_mask_low;          /* broadcast tiles 0..31 */
  uint32_t tile_mask_high;         /* broadcast tiles 32..63 */
  uint32_t pad[21];
} ssm_dma;

#define SSM_GEMM_ACCUMULATE 0x01u  /* C += A·B instead of C = A·B */
#define SSM_GEMM_TRANSPOSE_B 0x02u /* B is stored [n, k] (a torch Linear weight) */
typedef struct {
  ssm_command_head head; /* variant: enum ssm_precision of A and B */
  ssm_ref a, b, c;
  uint32_t m, n, k;
  uint32_t lda, ldb, ldc; /* elements between rows */
  uint32_t pad[19];
} ssm_gemm;

/* Scan operands are float32, token-major, with P = head_dim (1 for Mamba-1), H = channels,
 * L = length, N = state, G = groups: x, z, out [L, H*P]; dt [L, H]; a [H, N] (Mamba-1) or
 * [H] (Mamba-2); b, c [L, G, N]; d, dt_bias [H]; state [H*P, N]. */
enum ssm_scan_variant {
  SSM_SCAN_SELECTIVE = 0,        /* Mamba-1 scan over length steps */
  SSM_SCAN_STATE_UPDATE = 1,     /* Mamba-1 single decode step */
  SSM_SCAN_MULTIHEAD_UPDATE = 2, /* Mamba-2 single decode step */
  SSM_SCAN_SSD = 3               /* Mamba-2 recurrence over length steps */
};
/* Mamba-2 variants scan heads of head_dim rows with a scalar A per head; Mamba-1 variants
 * scan channels with an A row per channel. Update variants are one decode step. */
static inline int ssm_scan_is_mamba2(uint32_t variant) {
  return variant == SSM_SCAN_MULTIHEAD_UPDATE || variant == SSM_SCAN_SSD;
}
static inline int ssm_scan_is_update(uint32_t variant) {
  return variant == SSM_SCAN_STATE_UPDATE || variant == SSM_SCAN_MULTIHEAD_UPDATE;
}
#define SSM_SCAN_SOFTPLUS 0x01u    /* dt = softplus(dt + bias) */
#define SSM_SCAN_LOAD_STATE 0x02u  /* start from `state` (else zero) */
#define SSM_SCAN_STORE_STATE 0x04u /* write the final state to `state` */
typedef struct {
  ssm_command_head head;                                 /* variant: enum ssm_scan_variant */
  uint32_t channels;                                     /* Mamba-1: d_inner; Mamba-2: heads */
  uint32_t head_dim;                                     /* Mamba-2 only (1 for Mamba-1) */
  uint32_t length;                                       /* steps (1 for updates) */
  uint32_t state;                                        /* N */
  uint32_t groups;                                       /* B/C groups */
  ssm_ref x, dt, a, b, c, d, z, dt_bias, state_ref, out; /* d, z, dt_bias optional */
  uint32_t pad[6];
} ssm_scan;

/* Conv operands are float32: x, out [length, channels]; weight [channels, width];
 * bias [channels]; state [channels, state_len], the most recent inputs, oldest first. */
#define SSM_CONV_SILU 0x01u   /* SiLU after the convolution */
#define SSM_CONV_UPDATE 0x02u /* decode: shift `state` by length new inputs */
#define SSM_CONV_LOAD_STATE 0x04u
#define SSM_CONV_STORE_STATE 0x08u
typedef struct {
  ssm_command_head head;
  uint32_t channels, length, width, state_len;
  ssm_ref x, weight, bias, state_ref, out; /* bias optional */
  uint32_t pad[17];
} ssm_conv1d;

/* Vector functions: the profile's priced functions first (same order), then composites
 * the vector unit runs as sequences of them. Operands are float32 [rows, cols] except:
 * reductions write [rows]; RMSNORM's b and GATED_RMSNORM's c are weights [cols]; TOPK
 * writes int32 indices [rows, param1]. */
enum ssm_vector_function {
  SSM_VEC_ADD = 0,
  SSM_VEC_MUL,
  SSM_VEC_FMA,
  SSM_VEC_MAX,
  SSM_VEC_RELU,
  SSM_VEC_EXP,
  SSM_VEC_LOG,
  SSM_VEC_SIGMOID,
  SSM_VEC_SILU,
  SSM_VEC_GELU,
  SSM_VEC_SOFTPLUS,
  SSM_VEC_RSQRT,
  SSM_VEC_RECIP,
  SSM_VEC_REDUCE_SUM,
  SSM_VEC_REDUCE_MAX,
  SSM_VEC_CONVERT,
  SSM_VEC_RMSNORM = 32,       /* rows of cols: rmsnorm with weight b, eps param0 */
  SSM_VEC_GATED_RMSNORM = 33, /* with gate b, weight c, group size param1, flag NORM_BEFORE_GATE */
  SSM_VEC_SOFTMAX = 34,       /* row softmax of a * param0 (0: 1); flag CAUSAL masks col > row + param1 */
  SSM_VEC_TOPK = 35,          /* per row: the param1 largest, indices to out */
  SSM_VEC_ROPE = 36,          /* rotate rows (heads of cols) by position param1 + row, theta param0;
                                 param2: head_dim | rotary_dim << 16 (0: one head of all cols, fully
                                 rotated); rotate_half on each head's first rotary_dim columns */
  SSM_VEC_SCALE = 37          /* out = a * param0 */
};
/* CONVERT writes out in the ssm_precision param1 (SSM_FP32, SSM_BF16 or SSM_FP16; 16-bit
 * values packed two bytes each). */
#define SSM_VEC_CAUSAL 0x01u
#define SSM_VEC_NORM_BEFORE_GATE 0x02u
/* TOPK: out = a with all but the param1 largest of each row set to 0 (ties to the lowest
 * column), float32 [rows, cols], instead of the indices (functional MoE routing weights). */
#define SSM_VEC_TOPK_MASK 0x04u
/* MUL, FMA: b holds one value per row [rows], broadcast along the row. */
#define SSM_VEC_ROW_B 0x08u
/* TOPK with TOPK_MASK: rank each row by a + b (b: one value per column [cols], a correction
 * bias); out keeps a's values at the chosen columns (Nemotron-H's routing). */
#define SSM_VEC_TOPK_BIAS 0x10u
typedef struct {
  ssm_command_head head; /* variant: enum ssm_vector_function */
  uint32_t rows, cols;
  ssm_ref a, b, c, out; /* b, c optional */
  uint32_t param0;      /* a float's bits (eps, theta, scale) */
  uint32_t param1;      /* an integer (group size, k, offset) */
  uint32_t param2;      /* a second integer (ROPE's head dims) */
  uint32_t pad[18];
} ssm_vector;

typedef struct {
  ssm_command_head head;
  uint32_t semaphore;
  uint32_t value;
  uint32_t pad[29];
} ssm_sync;

typedef union {
  ssm_command_head head;
  ssm_dma dma;
  ssm_gemm gemm;
  ssm_scan scan;
  ssm_conv1d conv1d;
  ssm_vector vector;
  ssm_sync sync;
  uint32_t words[32];
} ssm_command; /* 128 bytes */

#ifdef __cplusplus
static_assert(sizeof(ssm_program_header) == 64, "header layout");
static_assert(sizeof(ssm_buffer) == 32, "buffer layout");
static_assert(sizeof(ssm_stream) == 16, "stream layout");
static_assert(sizeof(ssm_ref) == 8, "ref layout");
static_assert(sizeof(ssm_dma) == 128 && sizeof(ssm_gemm) == 128 && sizeof(ssm_scan) == 128 &&
                  sizeof(ssm_conv1d) == 128 && sizeof(ssm_vector) == 128 && sizeof(ssm_sync) == 128 &&
                  sizeof(ssm_command) == 128,
              "every command is 128 bytes");
static_assert(offsetof(ssm_dma, pad) <= 4 * SSM_SYNC_WORD && offsetof(ssm_gemm, pad) <= 4 * SSM_SYNC_WORD &&
                  offsetof(ssm_scan, pad) == 4 * SSM_SYNC_WORD && offsetof(ssm_conv1d, pad) <= 4 * SSM_SYNC_WORD &&
                  offsetof(ssm_vector, pad) <= 4 * SSM_SYNC_WORD,
              "the sync words lie in every engine command's padding");
#else
_Static_assert(sizeof(ssm_command) == 128, "every command is 128 bytes");
#endif

#endif /* SSMSOC_ARCH_ISA_H */
