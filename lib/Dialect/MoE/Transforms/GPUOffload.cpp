//===- GPUOffload.cpp - Loop nests on buffers -> GPU kernel launches ------===//
//
// `moe-gpu-offload`: makes a bufferized function a host program whose every
// access to a buffer happens in a gpu.launch, and `moe-gpu-emulate-on-host`,
// which runs such launches as parallel loops on the host for tests.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEGPUOFFLOADPASS
#define GEN_PASS_DEF_MOEGPUEMULATEONHOSTPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

Value indexConstant(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

/// Whether `type` is a memref whose elements are contiguous and in row-major
/// order from its base (what gpu.memcpy copies as one block of bytes).
bool isContiguous(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.getLayout().isIdentity();
}

/// `src` copied into `dst` element by element: an scf.parallel over the
/// shape, so that it runs as a kernel at host level and as a loop nest in a
/// thread.
void buildCopyLoops(ImplicitLocOpBuilder &b, Value src, Value dst) {
  auto type = cast<MemRefType>(src.getType());
  if (type.getRank() == 0) {
    Value value = memref::LoadOp::create(b, src, ValueRange{});
    memref::StoreOp::create(b, value, dst, ValueRange{});
    return;
  }
  SmallVector<Value> lower, upper, steps;
  for (int64_t dim = 0; dim < type.getRank(); ++dim) {
    lower.push_back(indexConstant(b, 0));
    upper.push_back(memref::DimOp::create(b, src, dim));
    steps.push_back(indexConstant(b, 1));
  }
  scf::ParallelOp::create(
      b, lower, upper, steps,
      [&](OpBuilder &nested, Location loc, ValueRange ivs) {
        Value value = memref::LoadOp::create(nested, loc, src, ivs);
        memref::StoreOp::create(nested, loc, value, dst, ivs);
      });
}

/// The role of an op in a host block.
enum class Placement {
  /// Stays on the host: computes no buffer contents (index arithmetic,
  /// memref.dim, views, calls).
  Host,
  /// A host-level scf.parallel: becomes a kernel.
  ParallelKernel,
  /// A host control-flow op with host work inside (kernels, allocations):
  /// stays, and its regions are processed in turn.
  HostRegion,
  /// Touches buffer contents sequentially: runs in a one-thread kernel.
  Sequential,
};

bool isBufferManagement(Operation *op) {
  return isa<memref::AllocOp, memref::AllocaOp, memref::DeallocOp,
             memref::CopyOp, memref::GetGlobalOp, func::CallOp>(op);
}

/// Whether `op` (or an op nested in it) must run on the host: a kernel, an
/// allocation, a call. (A copy can run in a kernel, as loops.)
bool containsHostWork(Operation *op) {
  WalkResult result = op->walk([&](Operation *nested) {
    if (nested == op)
      return WalkResult::advance();
    if (isBufferManagement(nested) && !isa<memref::CopyOp>(nested))
      return WalkResult::interrupt();
    if (auto parallel = dyn_cast<scf::ParallelOp>(nested);
        parallel && parallel.getNumResults() == 0)
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return result.wasInterrupted();
}

Placement place(Operation *op) {
  if (isBufferManagement(op) || op->hasTrait<OpTrait::IsTerminator>())
    return Placement::Host;
  if (auto parallel = dyn_cast<scf::ParallelOp>(op))
    return parallel.getNumResults() == 0 ? Placement::ParallelKernel
                                         : Placement::Sequential;
  if (op->getNumRegions() > 0 && containsHostWork(op))
    return Placement::HostRegion;
  if (isMemoryEffectFree(op))
    return Placement::Host;
  return Placement::Sequential;
}

class Offloader {
public:
  explicit Offloader(int64_t blockSize) : blockSize(blockSize) {}

  LogicalResult run(func::FuncOp function) {
    return processBlock(function.getBody().front());
  }

private:
  int64_t blockSize;
  /// The host buffers that receive the scalars of one-thread kernels: the
  /// only host memory the offloaded function uses.
  DenseSet<Operation *> hostStaging;

  LogicalResult processBlock(Block &block) {
    SmallVector<Operation *> group;
    DenseSet<Operation *> inGroup;
    for (Operation &op : llvm::make_early_inc_range(block)) {
      Placement placement = place(&op);
      // How `op` depends on the group: not at all, through scalars only
      // (which can be copied back to the host), or through a buffer view
      // computed from device data (which cannot).
      // Values used in nested regions count too.
      bool dependsOnGroup = false, onlyScalars = true;
      if (!group.empty())
        op.walk([&](Operation *user) {
          for (Value operand : user->getOperands())
            if (Operation *def = operand.getDefiningOp();
                def && inGroup.count(def)) {
              dependsOnGroup = true;
              onlyScalars &= operand.getType().isIntOrIndexOrFloat();
            }
        });
      // Ops that need a value of the group join it: pure ops, copies (which
      // run in the kernel as loops), control flow whose condition or bounds
      // the group computes, and anything that needs a view the group
      // computed (a kernel over the rows of a routed expert then runs in
      // this thread). A kernel or an allocation sized by a scalar of the
      // group stays on the host and gets the scalar copied back.
      bool joinsGroup =
          dependsOnGroup && !op.hasTrait<OpTrait::IsTerminator>() &&
          (!onlyScalars || placement == Placement::HostRegion ||
           (placement == Placement::Host &&
            (!isBufferManagement(&op) || isa<memref::CopyOp>(op))));
      if (joinsGroup && isa<func::CallOp>(op))
        return op.emitError()
               << "moe-gpu-offload: a call cannot run in a kernel, and its "
                  "operand is a buffer view computed from device data";
      if (placement == Placement::Sequential || joinsGroup) {
        group.push_back(&op);
        inGroup.insert(&op);
        continue;
      }
      // Pure host ops may stay where they are while the group collects;
      // an op that touches memory (a copy, a deallocation, a call) must
      // see the group's writes, and one that takes a scalar of the group
      // (an allocation sized by it) must come after the copy back, so the
      // group runs first.
      bool ordered = isBufferManagement(&op) &&
                     !isa<memref::AllocOp, memref::GetGlobalOp>(op);
      if (placement == Placement::Host && !ordered && !dependsOnGroup)
        continue;
      if (failed(flushGroup(group, inGroup, &op)))
        return failure();
      if (placement == Placement::Host)
        continue;
      if (placement == Placement::ParallelKernel) {
        if (failed(launchParallelLoop(cast<scf::ParallelOp>(op))))
          return failure();
        continue;
      }
      for (Region &region : op.getRegions())
        for (Block &nested : region)
          if (failed(processBlock(nested)))
            return failure();
    }
    if (failed(flushGroup(group, inGroup, block.getTerminator())))
      return failure();
    return rewriteBufferManagement(block);
  }

  /// Host-level allocations, deallocations and copies of this block (not of
  /// nested blocks, which processBlock visits itself) -> the gpu dialect.
  LogicalResult rewriteBufferManagement(Block &block) {
    for (Operation &op : llvm::make_early_inc_range(block)) {
      ImplicitLocOpBuilder b(op.getLoc(), &op);
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        auto device = gpu::AllocOp::create(
            b, alloc.getType(), /*asyncToken=*/Type(), ValueRange{},
            alloc.getDynamicSizes(), alloc.getSymbolOperands(),
            /*hostShared=*/false);
        alloc.replaceAllUsesWith(device.getMemref());
        alloc.erase();
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        gpu::DeallocOp::create(b, /*asyncToken=*/Type(), ValueRange{},
                               dealloc.getMemref());
        dealloc.erase();
      } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        if (isContiguous(copy.getSource().getType()) &&
            isContiguous(copy.getTarget().getType())) {
          gpu::MemcpyOp::create(b, /*asyncToken=*/Type(), ValueRange{},
                                copy.getTarget(), copy.getSource());
        } else if (cast<MemRefType>(copy.getSource().getType()).getRank() ==
                   0) {
          return copy.emitError()
                 << "moe-gpu-offload: expected a copy of rank >= 1 or "
                    "between contiguous buffers at host level";
        } else {
          // A strided view: a copy kernel, one thread per element.
          buildCopyLoops(b, copy.getSource(), copy.getTarget());
          auto loop = dyn_cast<scf::ParallelOp>(copy->getPrevNode());
          if (loop && failed(launchParallelLoop(loop)))
            return failure();
        }
        copy.erase();
      } else if (isa<memref::AllocaOp, memref::GetGlobalOp>(op) &&
                 !hostStaging.count(&op)) {
        // Host stack and global memory are not visible to kernels.
        return op.emitError()
               << "moe-gpu-offload: '" << op.getName()
               << "' at host level would give kernels a host buffer; "
                  "expected buffers from memref.alloc or function arguments";
      }
    }
    return success();
  }

  /// Runs the ops of `group` (in order) in a one-thread kernel placed
  /// before `before`. Scalars that later host code uses come back through a
  /// one-element device buffer.
  LogicalResult flushGroup(SmallVector<Operation *> &group,
                           DenseSet<Operation *> &inGroup, Operation *before) {
    if (group.empty())
      return success();
    auto isInGroup = [&](Operation *user) {
      for (Operation *op = user; op; op = op->getParentOp())
        if (inGroup.count(op))
          return true;
      return false;
    };
    SmallVector<Value> escaping;
    for (Operation *op : group)
      for (Value result : op->getResults())
        if (llvm::any_of(result.getUsers(),
                         [&](Operation *user) { return !isInGroup(user); })) {
          if (!result.getType().isIntOrIndexOrFloat())
            return op->emitError()
                   << "moe-gpu-offload: a value of type " << result.getType()
                   << " computed from device memory is used by host code; "
                      "only scalars can be copied back";
          escaping.push_back(result);
        }

    ImplicitLocOpBuilder b(before->getLoc(), before);
    SmallVector<Value> transfers;
    for (Value value : escaping)
      transfers.push_back(
          gpu::AllocOp::create(b, MemRefType::get({1}, value.getType()), Type(),
                               ValueRange{}, ValueRange{}, ValueRange{},
                               /*hostShared=*/false)
              .getMemref());
    Value one = indexConstant(b, 1);
    auto launch = gpu::LaunchOp::create(b, one, one, one, one, one, one);
    OpBuilder body = OpBuilder::atBlockBegin(&launch.getBody().front());
    IRMapping mapping;
    for (Operation *op : group)
      body.clone(*op, mapping);
    ImplicitLocOpBuilder inside(before->getLoc(), body);
    if (!escaping.empty()) {
      Value zero = indexConstant(inside, 0);
      for (auto [value, transfer] : llvm::zip(escaping, transfers))
        memref::StoreOp::create(inside, mapping.lookup(value), transfer,
                                ValueRange{zero});
    }
    gpu::TerminatorOp::create(inside);
    privatizeKernelBuffers(launch);

    // After the launch: the scalars, read on the host.
    Value hostZero = escaping.empty() ? Value() : indexConstant(b, 0);
    for (auto [value, transfer] : llvm::zip(escaping, transfers)) {
      auto host =
          memref::AllocaOp::create(b, MemRefType::get({1}, value.getType()));
      hostStaging.insert(host);
      gpu::MemcpyOp::create(b, Type(), ValueRange{}, host, transfer);
      Value read = memref::LoadOp::create(b, host, ValueRange{hostZero});
      gpu::DeallocOp::create(b, Type(), ValueRange{}, transfer);
      value.replaceUsesWithIf(
          read, [&](OpOperand &use) { return !isInGroup(use.getOwner()); });
    }
    for (Operation *op : llvm::reverse(group))
      op->erase();
    group.clear();
    inGroup.clear();
    return success();
  }

  /// One thread per iteration of `loop`.
  LogicalResult launchParallelLoop(scf::ParallelOp loop) {
    ImplicitLocOpBuilder b(loop.getLoc(), loop);
    Value zero = indexConstant(b, 0);
    Value one = indexConstant(b, 1);
    SmallVector<Value> trips;
    Value total = one;
    for (auto [lower, upper, step] : llvm::zip(
             loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
      Value span = arith::MaxSIOp::create(
          b, arith::SubIOp::create(b, upper, lower), zero);
      Value trip = arith::CeilDivSIOp::create(b, span, step);
      trips.push_back(trip);
      total = arith::MulIOp::create(b, total, trip);
    }
    Value threads = indexConstant(b, blockSize);
    // At least one block, whose threads find nothing to do when the space
    // is empty: an idle block costs less than a branch around the launch,
    // which would end the stream's run of asynchronous work (the host would
    // wait for the device to decide).
    Value grid = arith::MaxSIOp::create(
        b, arith::CeilDivSIOp::create(b, total, threads), one);
    auto launch = gpu::LaunchOp::create(b, grid, one, one, threads, one, one);

    Block &entry = launch.getBody().front();
    ImplicitLocOpBuilder k(loop.getLoc(), OpBuilder::atBlockBegin(&entry));
    Value id =
        arith::AddIOp::create(k,
                              arith::MulIOp::create(k, launch.getBlockIds().x,
                                                    launch.getBlockSize().x),
                              launch.getThreadIds().x);
    Value inRange =
        arith::CmpIOp::create(k, arith::CmpIPredicate::slt, id, total);
    auto body = scf::IfOp::create(k, inRange, /*withElseRegion=*/false);
    gpu::TerminatorOp::create(k);

    k.setInsertionPointToStart(&body.getThenRegion().front());
    // Innermost dimension fastest: neighbouring threads, neighbouring
    // elements.
    IRMapping mapping;
    Value remaining = id;
    int64_t rank = trips.size();
    SmallVector<Value> ivs(rank);
    for (int64_t dim = rank - 1; dim >= 0; --dim) {
      Value position =
          dim == 0
              ? remaining
              : arith::RemUIOp::create(k, remaining, trips[dim]).getResult();
      if (dim > 0)
        remaining = arith::DivUIOp::create(k, remaining, trips[dim]);
      ivs[dim] = arith::AddIOp::create(
          k, loop.getLowerBound()[dim],
          arith::MulIOp::create(k, position, loop.getStep()[dim]));
    }
    mapping.map(loop.getInductionVars(), ivs);
    for (Operation &op : loop.getBody()->without_terminator())
      k.clone(op, mapping);
    loop.erase();
    privatizeKernelBuffers(launch);
    return success();
  }

  /// Inside a kernel: buffers of static size become thread-private allocas
  /// at the top of the kernel (a kernel has no heap worth using), and
  /// copies become loops (the runtime's strided copy does not exist on the
  /// device).
  void privatizeKernelBuffers(gpu::LaunchOp launch) {
    Block &entry = launch.getBody().front();
    SmallVector<memref::AllocOp> allocs;
    launch.walk([&](memref::AllocOp alloc) {
      if (alloc.getType().hasStaticShape() && alloc.getSymbolOperands().empty())
        allocs.push_back(alloc);
    });
    for (memref::AllocOp alloc : allocs) {
      OpBuilder top = OpBuilder::atBlockBegin(&entry);
      auto alloca =
          memref::AllocaOp::create(top, alloc.getLoc(), alloc.getType());
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      alloc.replaceAllUsesWith(alloca.getResult());
      alloc.erase();
    }
    SmallVector<memref::AllocaOp> allocas;
    launch.walk([&](memref::AllocaOp alloca) {
      if (alloca->getBlock() != &entry && alloca.getType().hasStaticShape() &&
          alloca.getSymbolOperands().empty())
        allocas.push_back(alloca);
    });
    for (memref::AllocaOp alloca : allocas)
      alloca->moveBefore(&entry, entry.begin());
    SmallVector<memref::CopyOp> copies;
    launch.walk([&](memref::CopyOp copy) { copies.push_back(copy); });
    for (memref::CopyOp copy : copies) {
      ImplicitLocOpBuilder b(copy.getLoc(), copy);
      buildCopyLoops(b, copy.getSource(), copy.getTarget());
      copy.erase();
    }
  }
};

struct MoEGPUOffloadPass
    : public mlir::moe::impl::MoEGPUOffloadPassBase<MoEGPUOffloadPass> {
  using MoEGPUOffloadPassBase::MoEGPUOffloadPassBase;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (function.isExternal())
      return;
    if (blockSize < 1 || blockSize > 1024) {
      function.emitError() << "moe-gpu-offload: block-size must be in "
                              "[1, 1024] (CUDA's limit), got "
                           << static_cast<int64_t>(blockSize);
      return signalPassFailure();
    }
    if (failed(Offloader(blockSize).run(function)))
      signalPassFailure();
  }
};

//===----------------------------------------------------------------------===//
// moe-gpu-emulate-on-host
//===----------------------------------------------------------------------===//

struct MoEGPUEmulateOnHostPass
    : public mlir::moe::impl::MoEGPUEmulateOnHostPassBase<
          MoEGPUEmulateOnHostPass> {
  void runOnOperation() override {
    func::FuncOp function = getOperation();
    SmallVector<Operation *> ops;
    function.walk([&](Operation *op) {
      if (isa<gpu::LaunchOp, gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      ImplicitLocOpBuilder b(op->getLoc(), op);
      if (auto alloc = dyn_cast<gpu::AllocOp>(op)) {
        auto host = memref::AllocOp::create(
            b, alloc.getMemref().getType(), alloc.getDynamicSizes(),
            alloc.getSymbolOperands(), b.getI64IntegerAttr(64));
        alloc.getMemref().replaceAllUsesWith(host);
        alloc.erase();
      } else if (auto dealloc = dyn_cast<gpu::DeallocOp>(op)) {
        memref::DeallocOp::create(b, dealloc.getMemref());
        dealloc.erase();
      } else if (auto copy = dyn_cast<gpu::MemcpyOp>(op)) {
        memref::CopyOp::create(b, copy.getSrc(), copy.getDst());
        copy.erase();
      } else if (failed(emulateLaunch(cast<gpu::LaunchOp>(op)))) {
        return signalPassFailure();
      }
    }
  }

  LogicalResult emulateLaunch(gpu::LaunchOp launch) {
    WalkResult unsupported = launch.walk([&](Operation *op) {
      if (isa<gpu::BarrierOp, gpu::ShuffleOp, gpu::SubgroupReduceOp,
              gpu::AllReduceOp>(op) ||
          !launch.getWorkgroupAttributions().empty()) {
        launch.emitError() << "moe-gpu-emulate-on-host: the kernel uses '"
                           << op->getName()
                           << "' (threads that cooperate), which independent "
                              "loop iterations cannot emulate";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (unsupported.wasInterrupted())
      return failure();
    if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
      return launch.emitError()
             << "moe-gpu-emulate-on-host: expected a launch without async "
                "tokens";
    ImplicitLocOpBuilder b(launch.getLoc(), launch);
    Value zero = indexConstant(b, 0);
    Value one = indexConstant(b, 1);
    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    SmallVector<Value> upper = {grid.x,  grid.y,  grid.z,
                                block.x, block.y, block.z};
    auto loop = scf::ParallelOp::create(b, SmallVector<Value>(6, zero), upper,
                                        SmallVector<Value>(6, one));
    // The kernel body reads its ids and sizes from the region's arguments:
    // block ids, thread ids, grid size, block size.
    Block &entry = launch.getBody().front();
    IRMapping mapping;
    SmallVector<Value> ivs(loop.getInductionVars());
    gpu::KernelDim3 blockIds = launch.getBlockIds();
    gpu::KernelDim3 threadIds = launch.getThreadIds();
    gpu::KernelDim3 gridSize = launch.getGridSize();
    gpu::KernelDim3 blockSize = launch.getBlockSize();
    mapping.map(ValueRange{blockIds.x, blockIds.y, blockIds.z, threadIds.x,
                           threadIds.y, threadIds.z},
                ivs);
    mapping.map(ValueRange{gridSize.x, gridSize.y, gridSize.z, blockSize.x,
                           blockSize.y, blockSize.z},
                upper);
    if (!llvm::hasSingleElement(launch.getBody()))
      return launch.emitError() << "moe-gpu-emulate-on-host: expected a "
                                   "kernel body of one block";
    OpBuilder inside = OpBuilder::atBlockBegin(loop.getBody());
    for (Operation &op : entry.without_terminator())
      inside.clone(op, mapping);
    launch.erase();
    return success();
  }
};

} // namespace
