// The small part of the OpenFX 1.4 C ABI that the bgmatte bundle uses.
//
// Written for this project from the OpenFX Image Effect API specification
// (https://openfx.readthedocs.io: "ofxCore.h", "ofxProperty.h", "ofxParam.h",
// "ofxImageEffect.h", "ofxMessage.h" reference pages). Only the names, values and
// suite layouts bgmatte needs are declared here; a suite's layout must match the
// specification exactly, so members we never call are still declared, in order.
#pragma once

#include <cstddef>

extern "C" {

// ---- core: handles, status codes, the host and plug-in structs -----------------------------
typedef int OfxStatus;
typedef double OfxTime;
typedef struct OfxPropertySetStruct* OfxPropertySetHandle;
typedef struct OfxImageEffectStruct* OfxImageEffectHandle;
typedef struct OfxImageClipStruct* OfxImageClipHandle;
typedef struct OfxParamSetStruct* OfxParamSetHandle;
typedef struct OfxParamStruct* OfxParamHandle;
typedef struct OfxImageMemoryStruct* OfxImageMemoryHandle;

struct OfxRectI { int x1, y1, x2, y2; };
struct OfxRectD { double x1, y1, x2, y2; };
struct OfxRangeD { double min, max; };

enum : OfxStatus {
  kOfxStatOK = 0,
  kOfxStatFailed = 1,
  kOfxStatErrFatal = 2,
  kOfxStatErrUnknown = 3,
  kOfxStatErrMissingHostFeature = 4,
  kOfxStatErrUnsupported = 5,
  kOfxStatErrExists = 6,
  kOfxStatErrFormat = 7,
  kOfxStatErrMemory = 8,
  kOfxStatErrBadHandle = 9,
  kOfxStatErrBadIndex = 10,
  kOfxStatErrValue = 11,
  kOfxStatReplyYes = 12,
  kOfxStatReplyNo = 13,
  kOfxStatReplyDefault = 14,
  kOfxStatErrImageFormat = 1000,
};

struct OfxHost {
  OfxPropertySetHandle host;
  const void* (*fetchSuite)(OfxPropertySetHandle host, const char* suiteName, int suiteVersion);
};

typedef OfxStatus(OfxPluginEntryPoint)(const char* action, const void* handle,
                                       OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs);

struct OfxPlugin {
  const char* pluginApi;
  int apiVersion;
  const char* pluginIdentifier;
  unsigned int pluginVersionMajor;
  unsigned int pluginVersionMinor;
  void (*setHost)(OfxHost* host);
  OfxPluginEntryPoint* mainEntry;
};

// ---- suites ----------------------------------------------------------------------------------
struct OfxPropertySuiteV1 {
  OfxStatus (*propSetPointer)(OfxPropertySetHandle, const char*, int, void*);
  OfxStatus (*propSetString)(OfxPropertySetHandle, const char*, int, const char*);
  OfxStatus (*propSetDouble)(OfxPropertySetHandle, const char*, int, double);
  OfxStatus (*propSetInt)(OfxPropertySetHandle, const char*, int, int);
  OfxStatus (*propSetPointerN)(OfxPropertySetHandle, const char*, int, void* const*);
  OfxStatus (*propSetStringN)(OfxPropertySetHandle, const char*, int, const char* const*);
  OfxStatus (*propSetDoubleN)(OfxPropertySetHandle, const char*, int, const double*);
  OfxStatus (*propSetIntN)(OfxPropertySetHandle, const char*, int, const int*);
  OfxStatus (*propGetPointer)(OfxPropertySetHandle, const char*, int, void**);
  OfxStatus (*propGetString)(OfxPropertySetHandle, const char*, int, char**);
  OfxStatus (*propGetDouble)(OfxPropertySetHandle, const char*, int, double*);
  OfxStatus (*propGetInt)(OfxPropertySetHandle, const char*, int, int*);
  OfxStatus (*propGetPointerN)(OfxPropertySetHandle, const char*, int, void**);
  OfxStatus (*propGetStringN)(OfxPropertySetHandle, const char*, int, char**);
  OfxStatus (*propGetDoubleN)(OfxPropertySetHandle, const char*, int, double*);
  OfxStatus (*propGetIntN)(OfxPropertySetHandle, const char*, int, int*);
  OfxStatus (*propReset)(OfxPropertySetHandle, const char*);
  OfxStatus (*propGetDimension)(OfxPropertySetHandle, const char*, int*);
};

struct OfxImageEffectSuiteV1 {
  OfxStatus (*getPropertySet)(OfxImageEffectHandle, OfxPropertySetHandle*);
  OfxStatus (*getParamSet)(OfxImageEffectHandle, OfxParamSetHandle*);
  OfxStatus (*clipDefine)(OfxImageEffectHandle, const char*, OfxPropertySetHandle*);
  OfxStatus (*clipGetHandle)(OfxImageEffectHandle, const char*, OfxImageClipHandle*,
                             OfxPropertySetHandle*);
  OfxStatus (*clipGetPropertySet)(OfxImageClipHandle, OfxPropertySetHandle*);
  OfxStatus (*clipGetImage)(OfxImageClipHandle, OfxTime, const OfxRectD*, OfxPropertySetHandle*);
  OfxStatus (*clipReleaseImage)(OfxPropertySetHandle);
  OfxStatus (*clipGetRegionOfDefinition)(OfxImageClipHandle, OfxTime, OfxRectD*);
  int (*abort)(OfxImageEffectHandle);
  OfxStatus (*imageMemoryAlloc)(OfxImageEffectHandle, size_t, OfxImageMemoryHandle*);
  OfxStatus (*imageMemoryFree)(OfxImageMemoryHandle);
  OfxStatus (*imageMemoryLock)(OfxImageMemoryHandle, void**);
  OfxStatus (*imageMemoryUnlock)(OfxImageMemoryHandle);
};

struct OfxParameterSuiteV1 {
  OfxStatus (*paramDefine)(OfxParamSetHandle, const char* type, const char* name,
                           OfxPropertySetHandle*);
  OfxStatus (*paramGetHandle)(OfxParamSetHandle, const char*, OfxParamHandle*,
                              OfxPropertySetHandle*);
  OfxStatus (*paramSetGetPropertySet)(OfxParamSetHandle, OfxPropertySetHandle*);
  OfxStatus (*paramGetPropertySet)(OfxParamHandle, OfxPropertySetHandle*);
  OfxStatus (*paramGetValue)(OfxParamHandle, ...);
  OfxStatus (*paramGetValueAtTime)(OfxParamHandle, OfxTime, ...);
  OfxStatus (*paramGetDerivative)(OfxParamHandle, OfxTime, ...);
  OfxStatus (*paramGetIntegral)(OfxParamHandle, OfxTime, OfxTime, ...);
  OfxStatus (*paramSetValue)(OfxParamHandle, ...);
  OfxStatus (*paramSetValueAtTime)(OfxParamHandle, OfxTime, ...);
  OfxStatus (*paramGetNumKeys)(OfxParamHandle, unsigned int*);
  OfxStatus (*paramGetKeyTime)(OfxParamHandle, unsigned int, OfxTime*);
  OfxStatus (*paramGetKeyIndex)(OfxParamHandle, OfxTime, int, int*);
  OfxStatus (*paramDeleteKey)(OfxParamHandle, OfxTime);
  OfxStatus (*paramDeleteAllKeys)(OfxParamHandle);
  OfxStatus (*paramCopy)(OfxParamHandle, OfxParamHandle, OfxTime, const OfxRangeD*);
  OfxStatus (*paramEditBegin)(OfxParamSetHandle, const char*);
  OfxStatus (*paramEditEnd)(OfxParamSetHandle);
};

struct OfxMessageSuiteV1 {
  OfxStatus (*message)(void* handle, const char* messageType, const char* messageId,
                       const char* format, ...);
};

// Progress feedback: start with a label, update with a fraction in [0, 1] (the host may answer
// kOfxStatReplyNo when the user cancelled), end.
struct OfxProgressSuiteV1 {
  OfxStatus (*progressStart)(void* effectInstance, const char* label);
  OfxStatus (*progressUpdate)(void* effectInstance, double progress);
  OfxStatus (*progressEnd)(void* effectInstance);
};

}  // extern "C"

// ---- names: suites, actions, properties, values ----------------------------------------------
namespace ofx {
inline constexpr const char* kPropertySuite = "OfxPropertySuite";
inline constexpr const char* kImageEffectSuite = "OfxImageEffectSuite";
inline constexpr const char* kParameterSuite = "OfxParameterSuite";
inline constexpr const char* kMessageSuite = "OfxMessageSuite";
inline constexpr const char* kProgressSuite = "OfxProgressSuite";
inline constexpr const char* kImageEffectPluginApi = "OfxImageEffectPluginAPI";

// actions
inline constexpr const char* kActionLoad = "OfxActionLoad";
inline constexpr const char* kActionUnload = "OfxActionUnload";
inline constexpr const char* kActionDescribe = "OfxActionDescribe";
inline constexpr const char* kActionCreateInstance = "OfxActionCreateInstance";
inline constexpr const char* kActionDestroyInstance = "OfxActionDestroyInstance";
inline constexpr const char* kActionPurgeCaches = "OfxActionPurgeCaches";
inline constexpr const char* kActionDescribeInContext = "OfxImageEffectActionDescribeInContext";
inline constexpr const char* kActionRender = "OfxImageEffectActionRender";
inline constexpr const char* kActionGetRoD = "OfxImageEffectActionGetRegionOfDefinition";
inline constexpr const char* kActionGetRoIs = "OfxImageEffectActionGetRegionsOfInterest";
inline constexpr const char* kActionGetClipPreferences = "OfxImageEffectActionGetClipPreferences";
inline constexpr const char* kActionGetFramesNeeded = "OfxImageEffectActionGetFramesNeeded";
inline constexpr const char* kActionIsIdentity = "OfxImageEffectActionIsIdentity";

// general properties
inline constexpr const char* kPropLabel = "OfxPropLabel";
inline constexpr const char* kPropShortLabel = "OfxPropShortLabel";
inline constexpr const char* kPropLongLabel = "OfxPropLongLabel";
inline constexpr const char* kPropPluginDescription = "OfxPropPluginDescription";
inline constexpr const char* kPropVersion = "OfxPropVersion";
inline constexpr const char* kPropVersionLabel = "OfxPropVersionLabel";
inline constexpr const char* kPropInstanceData = "OfxPropInstanceData";
inline constexpr const char* kPropTime = "OfxPropTime";
inline constexpr const char* kPropName = "OfxPropName";

// image effect (descriptor and instance) properties
inline constexpr const char* kGrouping = "OfxImageEffectPluginPropGrouping";
inline constexpr const char* kSupportedContexts = "OfxImageEffectPropSupportedContexts";
inline constexpr const char* kContextGeneral = "OfxImageEffectContextGeneral";
inline constexpr const char* kContextFilter = "OfxImageEffectContextFilter";
inline constexpr const char* kSupportedPixelDepths = "OfxImageEffectPropSupportedPixelDepths";
inline constexpr const char* kSupportedComponents = "OfxImageEffectPropSupportedComponents";
inline constexpr const char* kSupportsTiles = "OfxImageEffectPropSupportsTiles";
inline constexpr const char* kSupportsMultiResolution = "OfxImageEffectPropSupportsMultiResolution";
inline constexpr const char* kSupportsMultipleClipDepths =
    "OfxImageEffectPropSupportsMultipleClipDepths";
inline constexpr const char* kTemporalClipAccess = "OfxImageEffectPropTemporalClipAccess";
inline constexpr const char* kSingleInstance = "OfxImageEffectPluginPropSingleInstance";
inline constexpr const char* kHostFrameThreading = "OfxImageEffectPluginPropHostFrameThreading";
inline constexpr const char* kRenderThreadSafety = "OfxImageEffectPluginRenderThreadSafety";
inline constexpr const char* kRenderFullySafe = "OfxImageEffectRenderFullySafe";
inline constexpr const char* kSequentialRender = "OfxImageEffectInstancePropSequentialRender";
inline constexpr const char* kBitDepthFloat = "OfxBitDepthFloat";
inline constexpr const char* kComponentRGBA = "OfxImageComponentRGBA";
inline constexpr const char* kComponentRGB = "OfxImageComponentRGB";
inline constexpr const char* kComponentAlpha = "OfxImageComponentAlpha";
inline constexpr const char* kOutputClipName = "Output";

// clips and images
inline constexpr const char* kClipOptional = "OfxImageClipPropOptional";
inline constexpr const char* kClipIsMask = "OfxImageClipPropIsMask";
inline constexpr const char* kClipConnected = "OfxImageClipPropConnected";
inline constexpr const char* kImageData = "OfxImagePropData";
inline constexpr const char* kImageBounds = "OfxImagePropBounds";
inline constexpr const char* kImageRowBytes = "OfxImagePropRowBytes";
inline constexpr const char* kPixelDepth = "OfxImageEffectPropPixelDepth";
inline constexpr const char* kComponents = "OfxImageEffectPropComponents";
inline constexpr const char* kPreMultiplication = "OfxImageEffectPropPreMultiplication";
inline constexpr const char* kImageOpaque = "OfxImageOpaque";
inline constexpr const char* kImagePreMultiplied = "OfxImageAlphaPremultiplied";
inline constexpr const char* kImageUnPreMultiplied = "OfxImageAlphaUnPremultiplied";

// render / RoD / RoI arguments
inline constexpr const char* kRenderWindow = "OfxImageEffectPropRenderWindow";
inline constexpr const char* kRenderScale = "OfxImageEffectPropRenderScale";
inline constexpr const char* kRegionOfDefinition = "OfxImageEffectPropRegionOfDefinition";
inline constexpr const char* kRegionOfInterest = "OfxImageEffectPropRegionOfInterest";
inline constexpr const char* kClipRoIPrefix = "OfxImageClipPropRoI_";
inline constexpr const char* kClipComponentsPrefix = "OfxImageClipPropComponents_";
inline constexpr const char* kClipDepthPrefix = "OfxImageClipPropDepth_";
inline constexpr const char* kClipFrameRangePrefix = "OfxImageClipPropFrameRange_";
inline constexpr const char* kFrameRange = "OfxImageEffectPropFrameRange";

// parameters
inline constexpr const char* kParamTypeInteger = "OfxParamTypeInteger";
inline constexpr const char* kParamTypeDouble = "OfxParamTypeDouble";
inline constexpr const char* kParamTypeBoolean = "OfxParamTypeBoolean";
inline constexpr const char* kParamTypeChoice = "OfxParamTypeChoice";
inline constexpr const char* kParamTypeString = "OfxParamTypeString";
inline constexpr const char* kParamPropDefault = "OfxParamPropDefault";
inline constexpr const char* kParamPropHint = "OfxParamPropHint";
inline constexpr const char* kParamPropScriptName = "OfxParamPropScriptName";
inline constexpr const char* kParamPropMin = "OfxParamPropMin";
inline constexpr const char* kParamPropMax = "OfxParamPropMax";
inline constexpr const char* kParamPropDisplayMin = "OfxParamPropDisplayMin";
inline constexpr const char* kParamPropDisplayMax = "OfxParamPropDisplayMax";
inline constexpr const char* kParamPropChoiceOption = "OfxParamPropChoiceOption";
inline constexpr const char* kParamPropStringMode = "OfxParamPropStringMode";
inline constexpr const char* kParamStringIsSingleLine = "OfxParamStringIsSingleLine";
inline constexpr const char* kParamStringIsFilePath = "OfxParamStringIsFilePath";
inline constexpr const char* kParamPropStringFilePathExists = "OfxParamPropStringFilePathExists";
inline constexpr const char* kParamPropAnimates = "OfxParamPropAnimates";

// messages
inline constexpr const char* kMessageError = "OfxMessageError";
}  // namespace ofx
