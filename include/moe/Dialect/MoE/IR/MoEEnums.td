//===- MoEEnums.td - Enumerations of the moe dialect -------*- tablegen -*-===//
//
// Scoring functions, group scores, dispatch modes, drop policies, expert
// activations, repeat schedules and target kinds. Each enum has an attribute
// that prints as a bare keyword inside op assembly formats.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEENUMS_TD
#define MOE_DIALECT_MOE_IR_MOEENUMS_TD

include "moe/Dialect/MoE/IR/MoEBase.td"
include "mlir/IR/EnumAttr.td"

def MoE_ScoreFunction : I32EnumAttr<"ScoreFunction",
    "how router logits become expert scores", [
      I32EnumAttrCase<"Softmax", 0, "softmax">,
      I32EnumAttrCase<"Sigmoid", 1, "sigmoid">,
      I32EnumAttrCase<"SoftmaxTopk", 2, "softmax_topk">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_ScoreFunctionAttr : EnumAttr<MoE_Dialect, MoE_ScoreFunction, "score">;

def MoE_GroupScore : I32EnumAttr<"GroupScore",
    "how a group of experts is scored in group-limited routing", [
      I32EnumAttrCase<"Top2Sum", 0, "top2_sum">,
      I32EnumAttrCase<"Max", 1, "max">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_GroupScoreAttr : EnumAttr<MoE_Dialect, MoE_GroupScore, "group_score">;

def MoE_DispatchMode : I32EnumAttr<"DispatchMode",
    "how token rows are grouped by expert", [
      I32EnumAttrCase<"Dropless", 0, "dropless">,
      I32EnumAttrCase<"Capacity", 1, "capacity">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_DispatchModeAttr : EnumAttr<MoE_Dialect, MoE_DispatchMode, "dispatch_mode">;

def MoE_DropPolicy : I32EnumAttr<"DropPolicy",
    "which assignments survive when an expert is over capacity", [
      I32EnumAttrCase<"Position", 0, "position">,
      I32EnumAttrCase<"Score", 1, "score">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_DropPolicyAttr : EnumAttr<MoE_Dialect, MoE_DropPolicy, "drop_policy">;

def MoE_Activation : I32EnumAttr<"Activation",
    "the activation of an expert FFN", [
      I32EnumAttrCase<"SiluGlu", 0, "silu_glu">,
      I32EnumAttrCase<"GeluGlu", 1, "gelu_glu">,
      I32EnumAttrCase<"Relu", 2, "relu">,
      I32EnumAttrCase<"Gelu", 3, "gelu">,
      I32EnumAttrCase<"Silu", 4, "silu">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_ActivationAttr : EnumAttr<MoE_Dialect, MoE_Activation, "activation">;

def MoE_PeerScore : I32EnumAttr<"PeerScore",
    "how the selected product-key scores become expert weights", [
      I32EnumAttrCase<"Softmax", 0, "softmax">,
      I32EnumAttrCase<"Relu", 1, "relu">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_PeerScoreAttr : EnumAttr<MoE_Dialect, MoE_PeerScore, "peer_score">;

def MoE_RepeatSchedule : I32EnumAttr<"RepeatSchedule",
    "how a repeated block is scheduled", [
      I32EnumAttrCase<"Auto", 0, "auto">,
      I32EnumAttrCase<"Unroll", 1, "unroll">,
      I32EnumAttrCase<"Resident", 2, "resident">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_RepeatScheduleAttr : EnumAttr<MoE_Dialect, MoE_RepeatSchedule, "schedule">;

def MoE_ExpertKernel : I32EnumAttr<"ExpertKernel",
    "which loop nest runs an expert's FFN on its rows", [
      I32EnumAttrCase<"Auto", 0, "auto">,
      I32EnumAttrCase<"Gemv", 1, "gemv">,
      I32EnumAttrCase<"Gemm", 2, "gemm">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_ExpertKernelAttr : EnumAttr<MoE_Dialect, MoE_ExpertKernel, "expert_kernel">;

def MoE_TargetKind : I32EnumAttr<"TargetKind",
    "the kind of hardware a target describes", [
      I32EnumAttrCase<"CPU", 0, "cpu">,
      I32EnumAttrCase<"CUDA", 1, "cuda">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}
def MoE_TargetKindAttr : EnumAttr<MoE_Dialect, MoE_TargetKind, "target_kind">;

def MoE_Bf16Dot : I32EnumAttr<"Bf16Dot",
    "the bf16 dot-product instruction a target offers", [
      I32EnumAttrCase<"Unset", 0, "unset">,
      I32EnumAttrCase<"None", 1, "none">,
      I32EnumAttrCase<"Avx512", 2, "avx512">
    ]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::moe";
}

#endif // MOE_DIALECT_MOE_IR_MOEENUMS_TD
