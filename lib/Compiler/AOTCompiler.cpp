//===- AOTCompiler.cpp - Ahead-of-time compilation of moe modules ---------===//
//
// moe-compile's library: the CPU pipeline, translation to LLVM IR, -O3 for
// the host CPU, and emission of LLVM IR, an object file or a shared library
// (an object linked by clang-22 with lld against libomp and the runtime),
// plus the C header of the entry points.
//
//===----------------------------------------------------------------------===//

#include "moe/Compiler/AOTCompiler.h"

#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;
using namespace mlir::moe;

/// Opens `path` for writing; "-" is stdout.
static llvm::Expected<std::unique_ptr<llvm::ToolOutputFile>>
openOutput(llvm::StringRef path) {
  std::string error;
  auto file = openOutputFile(path, &error);
  if (!file)
    return llvm::createStringError(error);
  return file;
}

/// The signatures of the public functions as written, before lowering turns
/// tensors into memrefs, for the comments of the header.
static llvm::StringMap<EntrySignature> getWrittenSignatures(ModuleOp module) {
  llvm::StringMap<EntrySignature> signatures;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func.isPublic() || func.isExternal())
      continue;
    auto signature =
        describeEntryPoint(func.getSymName(), func.getFunctionType());
    if (signature)
      signatures[func.getSymName()] = std::move(*signature);
    else
      llvm::consumeError(signature.takeError()); // Reported after lowering.
  }
  return signatures;
}

/// Writes the C header of the lowered `module`.
static llvm::Error emitHeader(ModuleOp module,
                              const llvm::StringMap<EntrySignature> &written,
                              const CompileOptions &options) {
  auto entryPoints = getLoweredEntryPoints(module);
  if (!entryPoints)
    return entryPoints.takeError();
  for (EntrySignature &entry : *entryPoints) {
    auto it = written.find(entry.name);
    if (it != written.end())
      entry = it->second;
  }
  // MOE_<FILE>_H from the header's file name.
  std::string guard = "MOE_";
  for (char c : llvm::sys::path::filename(options.header))
    guard.push_back(llvm::isAlnum(c) ? llvm::toUpper(c) : '_');
  auto file = openOutput(options.header);
  if (!file)
    return file.takeError();
  llvm::StringRef source = "the module";
  if (auto location = dyn_cast<FileLineColLoc>(module.getLoc()))
    source = location.getFilename().getValue();
  if (llvm::Error error =
          writeCHeader(*entryPoints, guard, llvm::sys::path::filename(source),
                       (*file)->os(), options.target))
    return error;
  (*file)->keep();
  return llvm::Error::success();
}

/// Pins every defined function to the target's CPU and features, so that
/// the emitted IR keeps them when compiled again by clang or llc.
static void setTargetAttributes(llvm::Module &module,
                                llvm::TargetMachine &machine) {
  llvm::StringRef cpu = machine.getTargetCPU();
  llvm::StringRef features = machine.getTargetFeatureString();
  for (llvm::Function &function : module) {
    if (function.isDeclaration())
      continue;
    function.addFnAttr("target-cpu", cpu);
    if (!features.empty())
      function.addFnAttr("target-features", features);
  }
}

/// Hides the functions whose `_mlir_ciface_` wrapper is the public entry
/// point: the library's interface is the C header, and an exported `main`
/// (the usual entry point name) would collide with the C program's own.
static void internalizeWrappedFunctions(llvm::Module &module) {
  for (llvm::Function &function : module) {
    if (function.isDeclaration() ||
        function.getName().starts_with("_mlir_ciface_"))
      continue;
    if (module.getFunction(("_mlir_ciface_" + function.getName()).str()))
      function.setLinkage(llvm::GlobalValue::InternalLinkage);
  }
}

/// The PTX of every gpu.binary of `module`, each after a `//--- <name>.ptx`
/// line.
static llvm::Error writePTX(ModuleOp module, llvm::StringRef output) {
  auto file = openOutput(output);
  if (!file)
    return file.takeError();
  for (auto binary : module.getOps<gpu::BinaryOp>()) {
    for (Attribute attribute : binary.getObjects()) {
      auto object = cast<gpu::ObjectAttr>(attribute);
      if (object.getFormat() != gpu::CompilationTarget::Assembly)
        return llvm::createStringError("gpu.binary @" + binary.getSymName() +
                                       " holds no PTX");
      // A line split-file understands: one .ptx file per kernel module,
      // for ptxas (which takes one module per file).
      (*file)->os() << "//--- " << binary.getSymName() << ".ptx\n"
                    << object.getObject().getValue() << "\n";
    }
  }
  (*file)->keep();
  return llvm::Error::success();
}

/// Links the object file `object` into the shared library `output`.
static llvm::Error linkSharedLibrary(llvm::StringRef object,
                                     const CompileOptions &options) {
  if (options.linker.empty() || !llvm::sys::fs::can_execute(options.linker))
    return llvm::createStringError("cannot run the linker driver '" +
                                   options.linker + "'");
  llvm::SmallString<128> openmpDirectory =
      llvm::sys::path::parent_path(options.openmpLibrary);
  std::vector<std::string> arguments = {
      options.linker, "-shared", "-fuse-ld=lld",
      // Every symbol must resolve now (libc, libm, libomp, the runtime),
      // not when a program loads the library.
      "-Wl,-z,defs", "-o", options.output, object.str(),
      "-L" + options.runtimeLibraryDirectory, "-lmoe_runtime",
      "-Wl,-rpath," + options.runtimeLibraryDirectory, options.openmpLibrary,
      "-Wl,-rpath," + openmpDirectory.str().str(), "-lm"};
  // CUDA models call the mgpu* functions of the CUDA runtime library, which
  // the build puts next to libmoe_runtime.so.
  if (options.target == TargetKind::CUDA)
    arguments.push_back("-lmoe_cuda_runtime");
  llvm::SmallVector<llvm::StringRef> argumentRefs(arguments.begin(),
                                                  arguments.end());
  std::string error;
  int status =
      llvm::sys::ExecuteAndWait(options.linker, argumentRefs,
                                /*Env=*/std::nullopt, {}, 0, 0, &error);
  if (status != 0)
    return llvm::createStringError(
        "linking " + options.output +
        " failed: " + (error.empty() ? llvm::join(arguments, " ") : error));
  return llvm::Error::success();
}

llvm::Error mlir::moe::compileModule(ModuleOp module,
                                     const CompileOptions &options) {
  if (options.emit == EmitKind::Shared && options.output == "-")
    return llvm::createStringError("--emit=shared needs an output file (-o)");
  bool cuda = options.target == TargetKind::CUDA;
  if (options.emit == EmitKind::PTX && (!cuda || options.gpuFormat != "isa"))
    return llvm::createStringError(
        "--emit=ptx needs --target=cuda and --gpu-format=isa");
  llvm::StringMap<EntrySignature> written = getWrittenSignatures(module);
  if (cuda) {
    GPUPipelineOptions pipelineOptions;
    pipelineOptions.chip = options.gpuChip;
    pipelineOptions.format = options.gpuFormat;
    pipelineOptions.emitCInterface = true;
    if (llvm::Error error = lowerToLLVMDialect(module, pipelineOptions))
      return error;
  } else {
    // The kernels' instructions follow the CPU compiled for (--cpu).
    auto machine = createHostTargetMachine(options.cpu);
    if (!machine)
      return machine.takeError();
    if (llvm::Error error = fitTargetToMachine(module, **machine))
      return error;
    CPUPipelineOptions pipelineOptions;
    pipelineOptions.emitCInterface = true;
    if (llvm::Error error = lowerToLLVMDialect(module, pipelineOptions))
      return error;
  }
  if (options.emit == EmitKind::PTX)
    return writePTX(module, options.output);
  if (!options.header.empty())
    if (llvm::Error error = emitHeader(module, written, options))
      return error;

  if (options.emit == EmitKind::MLIR) {
    auto file = openOutput(options.output);
    if (!file)
      return file.takeError();
    module.print((*file)->os());
    (*file)->keep();
    return llvm::Error::success();
  }

  // CUDA host code runs on the GPU machine's CPU, not on this one.
  std::string hostCPU = options.cpu;
  if (cuda && hostCPU.empty())
    hostCPU = "x86-64-v2";
  auto machine = createHostTargetMachine(hostCPU);
  if (!machine)
    return machine.takeError();
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(
      module, llvmContext,
      llvm::sys::path::stem(options.output == "-" ? "model" : options.output));
  if (!llvmModule)
    return llvm::createStringError("translation to LLVM IR failed");
  llvmModule->setTargetTriple((*machine)->getTargetTriple());
  llvmModule->setDataLayout((*machine)->createDataLayout());
  setTargetAttributes(*llvmModule, **machine);
  internalizeWrappedFunctions(*llvmModule);
  if (llvm::Error error = makeOptimizingTransformer(
          /*optLevel=*/3, /*sizeLevel=*/0, machine->get())(llvmModule.get()))
    return error;

  if (options.emit == EmitKind::LLVMIR) {
    auto file = openOutput(options.output);
    if (!file)
      return file.takeError();
    llvmModule->print((*file)->os(), nullptr);
    (*file)->keep();
    return llvm::Error::success();
  }

  // An object file: the output itself, or a temporary one to link.
  llvm::SmallString<128> objectPath(options.output);
  if (options.emit == EmitKind::Shared) {
    int descriptor;
    if (std::error_code error = llvm::sys::fs::createTemporaryFile(
            "moe-compile", "o", descriptor, objectPath))
      return llvm::createStringError("cannot create a temporary object file: " +
                                     error.message());
    llvm::sys::Process::SafelyCloseFileDescriptor(descriptor);
  }
  llvm::FileRemover removeTemporary(
      options.emit == EmitKind::Shared ? objectPath.str() : "");
  {
    auto file = openOutput(objectPath);
    if (!file)
      return file.takeError();
    llvm::legacy::PassManager codegen;
    if ((*machine)->addPassesToEmitFile(codegen, (*file)->os(), nullptr,
                                        llvm::CodeGenFileType::ObjectFile))
      return llvm::createStringError("the target cannot emit object files");
    codegen.run(*llvmModule);
    (*file)->keep();
  }
  if (options.emit == EmitKind::Shared)
    return linkSharedLibrary(objectPath, options);
  return llvm::Error::success();
}
