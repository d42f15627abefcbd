// RUN: moe-opt %s --convert-moe-to-linalg --canonicalize --cse --split-input-file | FileCheck %s --enable-var-scope
// RUN: moe-opt %s --convert-moe-to-linalg --split-input-file | FileCheck %s --check-prefix=NO-MOE

// No moe op (the moe.target attribute stays), and no tensor.gather /
// tensor.scatter, survives the lowering.
// NO-MOE-NOT: {{ moe\.[a-z_]+ [%(]}}
// NO-MOE-NOT: tensor.gather
// NO-MOE-NOT: tensor.scatter

// moe.topk: a parallel loop over rows. On a CPU, a row of static length
// (f32 or narrower) is ranked by vectors: its entries become i32 keys that
// order like the values (NaN replaced by -inf, -0.0 by +0.0, a negative
// value's magnitude bits flipped), once, padded to whole vectors with the
// minimum; then each of the k passes scans the keys 16 at a time, keeping
// every lane's best key and earliest index, reduces them (max key, then
// the smallest index holding it) and overwrites the pick with the minimum.
// A partial selection, O(k·N): no sort.

// CHECK-LABEL: func.func @topk
// CHECK-DAG: %[[REMOVED:.+]] = arith.constant -2147483648 : i32
// CHECK-DAG: %[[FLIP:.+]] = arith.constant dense<2147483647> : vector<16xi32>
// CHECK: scf.forall (%[[ROW:.+]]) in (%{{.+}}) shared_outs(%[[VALUES:.+]] = %{{.+}}, %[[INDICES:.+]] = %{{.+}})
// CHECK: %[[SLICE:.+]] = tensor.extract_slice %{{.+}}[%[[ROW]], 0] [1, 8] [1, 1] : tensor<?x8xf32> to tensor<8xf32>
// CHECK: %[[KEYS:.+]] = bufferization.alloc_tensor() : tensor<16xi32>
// CHECK: %[[ROWVEC:.+]] = vector.transfer_read %[[SLICE]]{{.*}} : tensor<8xf32>, vector<16xf32>
// CHECK: arith.cmpf uno, %[[ROWVEC]], %[[ROWVEC]] : vector<16xf32>
// CHECK: %[[BITS:.+]] = vector.bitcast %{{.+}} : vector<16xf32> to vector<16xi32>
// CHECK: arith.xori %[[BITS]], %[[FLIP]] : vector<16xi32>
// CHECK: arith.select
// CHECK-SAME: vector<16xi32>
// CHECK: %[[PADDED:.+]] = arith.select %{{.+}} : vector<16xi1>, vector<16xi32>
// CHECK: %[[FILLED:.+]] = vector.transfer_write %[[PADDED]], %[[KEYS]][%{{.+}}] {in_bounds = [true]} : vector<16xi32>, tensor<16xi32>
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[LEFT:.+]] = %[[FILLED]], %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) -> (tensor<16xi32>, tensor<2xf32>, tensor<2xi64>)
// CHECK: %[[SCAN:.+]] = vector.transfer_read %[[LEFT]]
// CHECK: %[[BETTER:.+]] = arith.cmpi sgt, %[[SCAN]], %{{.+}} : vector<16xi32>
// CHECK: %[[BESTKEYS:.+]] = arith.select %[[BETTER]], %[[SCAN]], %{{.+}} : vector<16xi1>, vector<16xi32>
// CHECK: %[[BESTKEY:.+]] = vector.reduction <maxsi>, %[[BESTKEYS]] : vector<16xi32> into i32
// CHECK: %[[WINNER:.+]] = vector.reduction <minsi>, %{{.+}} : vector<16xi32> into i32
// CHECK: %[[PICK:.+]] = arith.index_cast %[[WINNER]] : i32 to index
// CHECK: tensor.insert %[[REMOVED]] into %[[LEFT]][%[[PICK]]] : tensor<16xi32>
// CHECK: tensor.extract %[[SLICE]][%[[PICK]]] : tensor<8xf32>
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[VALUES]][%[[ROW]], 0] [1, 2] [1, 1] : tensor<2xf32> into tensor<?x2xf32>
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[INDICES]][%[[ROW]], 0] [1, 2] [1, 1] : tensor<2xi64> into tensor<?x2xi64>
// CHECK-NOT: sort
func.func @topk(%s: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>) {
  %v, %i = moe.topk %s k(2) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi64>
  return %v, %i : tensor<?x2xf32>, tensor<?x2xi64>
}

// -----

// A row of dynamic length (or of f64, or on a cuda target) keeps the scalar
// form: per pass, one loop over the N entries with compare-and-select.

// CHECK-LABEL: func.func @topk_dynamic_row
// CHECK: %[[N:.+]] = tensor.dim
// CHECK: scf.for %{{.+}} = %{{.+}} to %{{.+}} step
// CHECK: scf.for %{{.+}} = %{{.+}} to %[[N]] step
// NaN ranks below every number: it is replaced by -inf for the ranking.
// CHECK: arith.cmpf uno
// CHECK: arith.select %{{.+}}, %{{.+}}, %{{.+}} : f32
// CHECK-NOT: vector.reduction
func.func @topk_dynamic_row(%s: tensor<?xf32>) -> (tensor<2xf32>, tensor<2xi64>) {
  %v, %i = moe.topk %s k(2) : tensor<?xf32> -> tensor<2xf32>, tensor<2xi64>
  return %v, %i : tensor<2xf32>, tensor<2xi64>
}

// -----

// moe.route without the scores result: one parallel loop over tokens whose
// logits live in a token-local tensor<8xf32>; only T x K results are written.
// The logits are the expert kernels' vector dot products, 4 router rows at
// a time (2 blocks of 4 for E = 8), each reduced to a scalar.

// CHECK-LABEL: func.func @route_fused
// CHECK-NOT: tensor<?x8xf32>
// CHECK: scf.forall (%[[T:.+]]) in (%{{.+}}) shared_outs(%[[W:.+]] = %{{.+}}, %[[I:.+]] = %{{.+}}) -> (tensor<?x2xf32>, tensor<?x2xi32>)
// CHECK: %[[LOGITS:.+]] = bufferization.alloc_tensor() : tensor<8xf32>
// CHECK: scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args(%{{.+}} = %[[LOGITS]]) -> (tensor<8xf32>)
// CHECK-COUNT-4: vector.reduction <add>
// CHECK: math.exp
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[W]][%[[T]], 0] [1, 2]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[I]][%[[T]], 0] [1, 2]
// CHECK-NOT: tensor<?x8xf32>
func.func @route_fused(%x: tensor<?x16xbf16>, %w: tensor<8x16xbf16>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %weights, %indices = moe.route %x, %w top_k(2) normalize
      : (tensor<?x16xbf16>, tensor<8x16xbf16>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return %weights, %indices : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// With the scores result the T x E scores are a third output.

// CHECK-LABEL: func.func @route_with_scores
// CHECK: scf.forall {{.+}} -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
func.func @route_with_scores(%x: tensor<?x16xf32>, %w: tensor<8x16xf32>)
    -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>) {
  %weights, %indices, %scores = moe.route %x, %w top_k(2) score(sigmoid)
      : (tensor<?x16xf32>, tensor<8x16xf32>)
      -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>)
  return %weights, %indices, %scores
      : tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x8xf32>
}

// -----

// moe.experts: a sequential scan lists the experts that have rows; a
// parallel loop over that list runs each one's FFN on exactly its rows
// [offsets[e], offsets[e+1]). Without
// a tiling attribute the cost model's `auto` tiling applies: the gemm form
// for experts with at least gemm_min_rows rows, the gemv form otherwise.

// CHECK-LABEL: func.func @experts
// CHECK-SAME: %[[ROWS:[a-z0-9]+]]: tensor<?x16xf32>, %[[OFFSETS:[a-z0-9]+]]: tensor<5xi32>
// CHECK: %[[ACTIVE:.+]]:2 = scf.for %{{.+}} = %c0 to %c4 step %c1 iter_args(%{{.+}} = %{{.+}}, %{{.+}} = %c0) -> (tensor<4xindex>, index)
// CHECK: scf.forall (%[[I:.+]]) in (%[[ACTIVE]]#1) shared_outs(%[[OUT:.+]] = %{{.+}}) -> (tensor<?x16xf32>)
// CHECK: %[[E:.+]] = tensor.extract %[[ACTIVE]]#0[%[[I]]]
// CHECK: %[[START_I32:.+]] = tensor.extract %[[OFFSETS]][%[[E]]]
// CHECK: scf.if
// CHECK: %[[TILE:.+]] = tensor.extract_slice %[[ROWS]][%{{.+}}, 0] [%[[N:.+]], 16] [1, 1]
// CHECK: %[[MANY:.+]] = arith.cmpi sge, %[[N]], %c8
// CHECK: scf.if %[[MANY]]
// CHECK: bufferization.alloc_tensor() : tensor<16x256xf32>
// CHECK: vector.fma
// CHECK: } else {
// CHECK: vector.reduction <add>
// CHECK-NOT: linalg.matmul
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[OUT]][%{{.+}}, 0] [%{{.+}}, 16] [1, 1]
func.func @experts(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>,
    %wg: tensor<4x24x16xf32>, %wu: tensor<4x24x16xf32>,
    %wd: tensor<4x16x24xf32>) -> tensor<?x16xf32> {
  %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
      activation(silu_glu)
      : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x24x16xf32>,
         tensor<4x24x16xf32>, tensor<4x16x24xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// kernel = gemv: F-tiles of 32 outside (2 of them); blocks of 4 gate and 4
// up weight rows dotted with the expert's rows two at a time (vectors along
// D, each weight vector loaded once for both rows; an odd last row alone)
// and reduced, the activation written into the rows x 32 hidden tile; then
// blocks of 4 down rows dotted with the rows' hidden tiles the same way
// (vectors along the F-tile) and added to their output rows.
// With 2 cores, the 2 cores share each expert: the parallel loop runs over
// (expert with rows, run of F-tiles) pairs, each run (here one F-tile of
// the two) writes its share of the output into its own f32 buffer, and the
// two shares are summed after the loop.

// CHECK-LABEL: func.func @experts_gemv
// CHECK-SAME: %[[ROWS:[a-z0-9]+]]: tensor<?x16xf32>, %{{.+}}: tensor<5xi32>, %[[WG:[a-z0-9]+]]: tensor<4x64x16xf32>, %[[WU:[a-z0-9]+]]: tensor<4x64x16xf32>, %[[WD:[a-z0-9]+]]: tensor<4x16x64xf32>
// CHECK: %[[ACTIVE:.+]]:2 = scf.for
// CHECK: %[[PARTIAL:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<2x?x16xf32>)
// CHECK: %[[PAIRS:.+]] = arith.muli %[[ACTIVE]]#1, %c2
// CHECK: %[[SHARES:.+]] = scf.forall (%[[I:.+]]) in (%[[PAIRS]]) shared_outs(%[[OUT:.+]] = %[[PARTIAL]]) -> (tensor<2x?x16xf32>)
// CHECK: %[[PART:.+]] = arith.remui %[[I]], %c2
// CHECK: %[[J:.+]] = arith.divui %[[I]], %c2
// CHECK: %[[E:.+]] = tensor.extract %[[ACTIVE]]#0[%[[J]]] : tensor<4xindex>
// CHECK: %[[BEGIN:.+]] = arith.minsi %[[PART]], %c2
// CHECK: %[[NEXT:.+]] = arith.addi %[[BEGIN]], %c1
// CHECK: %[[END:.+]] = arith.minsi %[[NEXT]], %c2
// CHECK: %[[HIDDEN0:.+]] = bufferization.alloc_tensor(%{{.+}}) : tensor<?x32xf32>
// CHECK: scf.for %{{.+}} = %[[BEGIN]] to %[[END]] step %c1 iter_args(%{{.+}} = %{{.+}}, %{{.+}} = %[[HIDDEN0]])
// CHECK: scf.for %{{.+}} = %c0 to %c8 step %c1
// CHECK: %[[HALF:.+]] = arith.divui %[[COUNT:.+]], %c2
// CHECK: scf.for %[[PAIR:.+]] = %c0 to %[[HALF]] step %c1
// CHECK: %[[TOKEN:.+]] = arith.muli %[[PAIR]], %c2
// CHECK: %[[NEXT_TOKEN:.+]] = arith.addi %[[TOKEN]], %c1
// CHECK: %[[X:.+]] = vector.transfer_read %{{.+}}[%[[TOKEN]], %c0]
// CHECK: %[[X2:.+]] = vector.transfer_read %{{.+}}[%[[NEXT_TOKEN]], %c0]
// CHECK: %[[G:.+]] = vector.transfer_read %[[WG]][%[[E]], %{{.+}}, %c0]
// CHECK: vector.fma %[[G]], %[[X]]
// CHECK: vector.fma %[[G]], %[[X2]]
// CHECK: vector.transfer_read %[[WU]][%[[E]], %{{.+}}, %c0]
// CHECK: vector.reduction <add>
// CHECK: math.exp
// CHECK: tensor.insert %{{.+}}[%[[TOKEN]], %{{.+}}] : tensor<?x32xf32>
// CHECK: tensor.insert %{{.+}}[%[[NEXT_TOKEN]], %{{.+}}] : tensor<?x32xf32>
// CHECK: %[[PAIRED:.+]] = arith.muli %[[HALF]], %c2
// CHECK: scf.for %{{.+}} = %[[PAIRED]] to %[[COUNT]] step %c1
// CHECK: scf.for %{{.+}} = %c0 to %c4 step %c1
// CHECK: vector.transfer_read %[[WD]][%[[E]], %{{.+}}, %{{.+}}]
// CHECK: vector.reduction <add>
// CHECK: tensor.insert %{{.+}} : tensor<?x16xf32>
// CHECK: tensor.parallel_insert_slice %{{.+}} into %[[OUT]][%[[PART]], %{{.+}}, 0] [1, %{{.+}}, 16] [1, 1, 1] : tensor<?x16xf32> into tensor<2x?x16xf32>
// CHECK: %[[SHARE0:.+]] = tensor.extract_slice %[[SHARES]][0, 0, 0] [1, %{{.+}}, 16] [1, 1, 1]
// CHECK: %[[SHARE1:.+]] = tensor.extract_slice %[[SHARES]][1, 0, 0] [1, %{{.+}}, 16] [1, 1, 1]
// CHECK: %[[SUM:.+]] = linalg.generic {{.+}} ins(%[[SHARE0]], %[[SHARE1]] : tensor<?x16xf32>, tensor<?x16xf32>)
// CHECK: arith.addf
// CHECK: return %[[SUM]]
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 2>} {
  func.func @experts_gemv(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x16xf32>, %wu: tensor<4x64x16xf32>,
      %wd: tensor<4x16x64xf32>) -> tensor<?x16xf32> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemv, hidden_tile = 32, token_tile = 32>)
        : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x64x16xf32>,
           tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<?x16xf32>
    return %y : tensor<?x16xf32>
  }
}

// -----

// kernel = gemm: token tiles of 32 (ceil(n / 32) of them); each tile's rows
// are transposed into a 16 x 32 f32 buffer in 16 x 16 blocks (16 row reads,
// the rows of tokens past the tile zeroed, 4 stages of two-source shuffles,
// 16 column writes); per F-tile of 32 (2 of them),
// blocks of 4 gate and 4 up rows broadcast each weight element against two
// vectors of 16 tokens (8 rows x 2 vectors of accumulators), the
// activation is written into the 32 x 32 hidden tile, then blocks of 8 down
// rows accumulate into the transposed output, which is transposed back the
// same way (a padding token's row is not written).
// The register blocks run over the tile's rows only: whole blocks of 32
// while more than 16 rows are left, then one block of one vector of tokens
// (0 or 1 of them) for the last 1-16 rows.

// CHECK-LABEL: func.func @experts_gemm
// CHECK-SAME: %[[ROWS:[a-z0-9]+]]: tensor<?x16xf32>, %{{.+}}: tensor<5xi32>, %[[WG:[a-z0-9]+]]: tensor<4x64x16xf32>, %[[WU:[a-z0-9]+]]: tensor<4x64x16xf32>, %[[WD:[a-z0-9]+]]: tensor<4x16x64xf32>
// CHECK: scf.forall
// CHECK: %[[E:.+]] = tensor.extract %{{.+}} : tensor<4xindex>
// CHECK-DAG: %[[XT:.+]] = bufferization.alloc_tensor() : tensor<16x32xf32>
// CHECK-DAG: %[[HT:.+]] = bufferization.alloc_tensor() : tensor<32x32xf32>
// CHECK: %[[TILES:.+]] = arith.ceildivsi %{{.+}}, %c32
// CHECK: scf.for %{{.+}} = %c0 to %[[TILES]] step %c1
// CHECK: %[[TOKEN_BLOCKS:.+]] = arith.ceildivsi %[[TOKENS:.+]], %c16
// CHECK: scf.for %{{.+}} = %c0 to %[[TOKEN_BLOCKS]] step %c1 iter_args(%{{.+}} = %{{.+}}) -> (tensor<16x32xf32>)
// CHECK: arith.cmpi slt, %{{.+}}, %[[TOKENS]]
// CHECK: arith.select %{{.+}}, %{{.+}}, %{{.+}} : vector<16xf32>
// CHECK: vector.shuffle %{{.+}}, %{{.+}} [0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30]
// CHECK: vector.shuffle %{{.+}}, %{{.+}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]
// CHECK: vector.transfer_write %{{.+}} {in_bounds = [true]} : vector<16xf32>, tensor<16x32xf32>
// CHECK: %[[FULL:.+]] = arith.divsi %[[TOKENS]], %c32
// CHECK: %[[START:.+]] = arith.muli %[[FULL]], %c32
// CHECK: %[[REST:.+]] = arith.subi %[[TOKENS]], %[[START]]
// CHECK: %[[REST_WIDE:.+]] = arith.cmpi sgt, %[[REST]], %c16
// CHECK: %[[REST_FITS:.+]] = arith.cmpi sle, %[[REST]], %c16
// CHECK: %[[REST_ANY:.+]] = arith.cmpi sgt, %[[REST]], %c0
// CHECK: %[[REST_NARROW:.+]] = arith.andi %[[REST_FITS]], %[[REST_ANY]]
// CHECK: %[[EXTRA:.+]] = arith.select %[[REST_WIDE]], %c1, %c0
// CHECK: %[[WIDE:.+]] = arith.addi %[[FULL]], %[[EXTRA]]
// CHECK: %[[NARROW:.+]] = arith.select %[[REST_NARROW]], %c1, %c0
// CHECK: scf.for %{{.+}} = %c0 to %c2 step %c1
// CHECK: scf.for %{{.+}} = %c0 to %[[WIDE]] step %c1
// CHECK: scf.for %[[D:.+]] = %c0 to %c16 step %c1
// CHECK: vector.transfer_read %{{.+}}[%[[D]], %{{.+}}], %{{.+}} : tensor<16x32xf32>, vector<16xf32>
// CHECK: %[[W:.+]] = tensor.extract %[[WG]][%[[E]], %{{.+}}, %[[D]]]
// CHECK: %[[B:.+]] = vector.broadcast %[[W]] : f32 to vector<16xf32>
// CHECK: vector.fma %[[B]]
// CHECK: tensor.extract %[[WU]][%[[E]], %{{.+}}, %[[D]]]
// CHECK: math.exp %{{.+}} : vector<16xf32>
// CHECK: vector.transfer_write %{{.+}} : vector<16xf32>, tensor<32x32xf32>
// CHECK: scf.for %{{.+}} = %c0 to %[[NARROW]] step %c1
// CHECK: scf.for %{{.+}} = %c0 to %[[WIDE]] step %c1
// CHECK: scf.for %[[K:.+]] = %c0 to %c32 step %c1
// CHECK: tensor.extract %[[WD]][%[[E]], %{{.+}}, %{{.+}}]
// CHECK: vector.fma
// CHECK: scf.for %{{.+}} = %c0 to %[[NARROW]] step %c1
// CHECK: scf.for %{{.+}} = %c0 to %[[TOKEN_BLOCKS]] step %c1 iter_args(%{{.+}} = %{{.+}}) -> (tensor<?x16xf32>)
// CHECK: vector.transfer_read %{{.+}} : tensor<16x32xf32>, vector<16xf32>
// CHECK: vector.shuffle
// CHECK: scf.if %{{.+}} -> (tensor<?x16xf32>)
// CHECK: vector.transfer_write %{{.+}} {in_bounds = [true]} : vector<16xf32>, tensor<?x16xf32>
module attributes {moe.target = #moe.target<kind = cpu, compute_units = 1>} {
  func.func @experts_gemm(%rows: tensor<?x16xf32>, %offsets: tensor<5xi32>,
      %wg: tensor<4x64x16xf32>, %wu: tensor<4x64x16xf32>,
      %wd: tensor<4x16x64xf32>) -> tensor<?x16xf32> {
    %y = moe.experts %rows, %offsets gate_proj(%wg) up_proj(%wu) down_proj(%wd)
        activation(silu_glu)
        tiling(#moe.expert_tiling<kernel = gemm, hidden_tile = 32, token_tile = 32>)
        : (tensor<?x16xf32>, tensor<5xi32>, tensor<4x64x16xf32>,
           tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<?x16xf32>
    return %y : tensor<?x16xf32>
  }
}

// -----

// moe.dispatch (dropless): a counting sort over the T x K assignments in
// (token, slot) order decides which token fills each row (-1: none); then
// one parallel generic gathers the rows, one element per (row, feature).

// CHECK-LABEL: func.func @dispatch
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<?x16xf32>
// CHECK: scf.for
// CHECK: scf.for
// CHECK: %[[TOKENOF:.+]] = scf.for
// CHECK: scf.for
// CHECK: tensor.insert %{{.+}} into %{{.+}}[%{{.+}}] : tensor<?xi32>
// CHECK: %[[ROWS:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]} ins(%{{.+}} : tensor<?xi32>) outs(%{{.+}} : tensor<?x16xf32>)
// CHECK: %[[TOKEN:.+]] = arith.index_cast
// CHECK: tensor.extract %[[X]][%[[TOKEN]], %{{.+}}] : tensor<?x16xf32>
// CHECK-NOT: tensor.insert_slice
func.func @dispatch(%x: tensor<?x16xf32>, %indices: tensor<?x2xi32>)
    -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>) {
  %rows, %offsets, %row_of = moe.dispatch %x, %indices num_experts(4)
      : (tensor<?x16xf32>, tensor<?x2xi32>)
      -> (tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>)
  return %rows, %offsets, %row_of : tensor<?x16xf32>, tensor<5xi32>, tensor<?x2xi32>
}

// -----

// moe.repeat becomes an scf.for with the same iter_args.

// CHECK-LABEL: func.func @repeat
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>
// CHECK: %[[R:.+]] = scf.for %{{.+}} = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[H:.+]] = %[[X]]) -> (tensor<4x8xf32>)
// CHECK: linalg.matmul {{.*}}ins(%[[H]]
// CHECK: scf.yield
// CHECK: return %[[R]]
func.func @repeat(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %r = moe.repeat 3 iter_args(%h = %x) : tensor<4x8xf32> {
    %zero = arith.constant 0.0 : f32
    %init = tensor.empty() : tensor<4x8xf32>
    %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<4x8xf32>) -> tensor<4x8xf32>
    %next = linalg.matmul ins(%h, %w : tensor<4x8xf32>, tensor<8x8xf32>)
                          outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
    moe.yield %next : tensor<4x8xf32>
  }
  return %r : tensor<4x8xf32>
}

// -----

// moe.peer on a CPU: a parallel loop over (token, head). The selected
// experts' rows are gathered by vector kernels, a block of them per pass
// over D: first the dot products of all their down rows with the token's
// row (every row read at the same offset in the same step), then, per
// element, the sum of their up rows scaled by gate · act(dot), in the order
// of the selection. Static tables only.

// CHECK-LABEL: func.func @peer_gathered
// CHECK-SAME: %[[X:[^:]+]]: tensor<?x24xf32>
// CHECK-SAME: %[[DOWN:[^:]+]]: tensor<16x24xf32>, %[[UP:[^:]+]]: tensor<16x24xf32>
// CHECK: scf.forall (%[[TOKEN:.+]], %[[HEAD:.+]]) in (%{{.+}}, 2)
// The experts' rows: first sub-key · n + second sub-key, for the two
// best candidates.
// CHECK: tensor.extract %{{.+}}[%c0] : tensor<2xindex>
// CHECK: arith.muli %{{.+}}, %c4 : index
// CHECK-NEXT: %[[FIRST:.+]] = arith.addi
// CHECK: tensor.extract %{{.+}}[%c1] : tensor<2xindex>
// CHECK: arith.muli %{{.+}}, %c4 : index
// CHECK-NEXT: %[[SECOND:.+]] = arith.addi
// CHECK: %[[ROW0:.+]] = vector.transfer_read %{{.+}}[%[[C0:.+]]], %{{.+}} {in_bounds = [true]} : tensor<24xf32>, vector<16xf32>
// CHECK: %[[D0:.+]] = vector.transfer_read %[[DOWN]][%[[FIRST]], %[[C0]]]
// CHECK: vector.fma %[[D0]], %[[ROW0]]
// CHECK: %[[D1:.+]] = vector.transfer_read %[[DOWN]][%[[SECOND]], %[[C0]]]
// CHECK: vector.fma %[[D1]], %[[ROW0]]
// CHECK: %[[DOT0:.+]] = vector.reduction <add>
// CHECK: %[[DOT1:.+]] = vector.reduction <add>
// CHECK: %[[ACT0:.+]] = arith.maximumf %[[DOT0]]
// CHECK: %[[COEFF0:.+]] = arith.mulf %{{.+}}, %[[ACT0]] : f32
// CHECK: %[[ACT1:.+]] = arith.maximumf %[[DOT1]]
// CHECK: %[[COEFF1:.+]] = arith.mulf %{{.+}}, %[[ACT1]] : f32
// CHECK: %[[SCALE0:.+]] = vector.broadcast %[[COEFF0]] : f32 to vector<16xf32>
// CHECK: %[[SCALE1:.+]] = vector.broadcast %[[COEFF1]] : f32 to vector<16xf32>
// CHECK: %[[U0:.+]] = vector.transfer_read %[[UP]][%[[FIRST]], %[[C0]]]
// CHECK: %[[SUM0:.+]] = vector.fma %[[SCALE0]], %[[U0]], %{{.+}}
// CHECK: %[[U1:.+]] = vector.transfer_read %[[UP]][%[[SECOND]], %[[C0]]]
// CHECK: vector.fma %[[SCALE1]], %[[U1]], %[[SUM0]]
// The last, partial vector of the rows is read masked (no in_bounds).
// CHECK: vector.transfer_read %[[UP]][%[[FIRST]], %{{.+}}], %{{.+}} : tensor<16x24xf32>
// CHECK: scf.forall.in_parallel
func.func @peer_gathered(%x: tensor<?x24xf32>, %query: tensor<16x24xf32>,
                         %keys: tensor<2x2x4x4xf32>,
                         %down: tensor<16x24xf32>, %up: tensor<16x24xf32>)
    -> tensor<?x24xf32> {
  %y = moe.peer %x query(%query) keys(%keys) down_embed(%down) up_embed(%up)
      heads(2) top_k(2) activation(relu) score(softmax)
      : (tensor<?x24xf32>, tensor<16x24xf32>, tensor<2x2x4x4xf32>,
         tensor<16x24xf32>, tensor<16x24xf32>) -> tensor<?x24xf32>
  return %y : tensor<?x24xf32>
}
