// bgmatte.ofx: the OpenFX image-effect shim around the bgmatte node.
//
// A thin translator: it embeds Python (pybind11), asks bgmatte.host_bridge.ofx_bridge for the
// description (clips, parameters from the node's one table), and hands the host's images to
// ofx_bridge.Effect.render as NumPy views. No matting logic lives here.
//
// Rules this file keeps (see host_bridge/ofx/README.md):
// * libpython is re-opened RTLD_GLOBAL before any extension module is imported (hosts dlopen
//   plug-ins RTLD_LOCAL, and numpy/torch need libpython's symbols);
// * an interpreter that is already running (Nuke, a Python test host) is reused; ours is
//   initialised once, never finalised; the library is linked -z nodelete so a host's
//   dlclose/dlopen while scanning keeps it (and the interpreter) alive;
// * the GIL is taken in every action (actions come from any thread) and released otherwise;
// * every Python exception becomes kOfxStatFailed plus a message-suite error, never a crash.

#include <dlfcn.h>
#include <pybind11/embed.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
#include <sys/stat.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "ofx_api.h"

namespace py = pybind11;

#define BGMATTE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr const char* kPluginId = "org.bgmatte.BackgroundMatte";
constexpr unsigned kVersionMajor = 1;
constexpr unsigned kVersionMinor = 0;
constexpr const char* kBridgeModule = "bgmatte.host_bridge.ofx_bridge";

OfxHost* gHost = nullptr;
const OfxPropertySuiteV1* gProp = nullptr;
const OfxImageEffectSuiteV1* gEffect = nullptr;
const OfxParameterSuiteV1* gParam = nullptr;
const OfxMessageSuiteV1* gMessage = nullptr;
const OfxProgressSuiteV1* gProgress = nullptr;  // optional: hosts without it get no bar

// ---- the description, read once from Python ----------------------------------------------
struct ParamDesc {
  std::string name, label, hint, kind;  // kind: choice float int bool string path
  long idefault = 0;
  double ddefault = 0.0;
  std::string sdefault;
  bool has_range = false;
  double lo = 0.0, hi = 0.0;
  std::vector<std::string> choices;
};

struct ClipDesc {
  std::string name, label, hint;
  bool optional = false, mask = false;
  std::vector<std::string> components;
};

struct Description {
  std::string label, grouping, description;
  std::vector<ClipDesc> clips;
  std::vector<ParamDesc> params;
};

std::mutex gInitMutex;
bool gPythonReady = false;
std::string gInitError;
py::object* gBridge = nullptr;        // never freed: the interpreter outlives the plug-in
Description* gDescription = nullptr;  // never freed, for the same reason

struct Instance {
  OfxImageEffectHandle effect = nullptr;
  py::object* py_effect = nullptr;
};

// ---- small helpers ---------------------------------------------------------------------------
void post_error(const void* handle, const std::string& text) {
  if (gMessage != nullptr && gMessage->message != nullptr &&
      gMessage->message(const_cast<void*>(handle), ofx::kMessageError, "bgmatte.error", "%s",
                        text.c_str()) == kOfxStatOK) {
    return;
  }
  std::fprintf(stderr, "%s\n", text.c_str());  // no message suite: the host's log at least
}

std::string dirname_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  const auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<std::string> split_paths(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ':')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The real path of this .ofx file (hosts may reach it through a symlinked bundle).
std::string self_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&post_error), &info) == 0 || info.dli_fname == nullptr) {
    return {};
  }
  char resolved[PATH_MAX];
  if (::realpath(info.dli_fname, resolved) != nullptr) return resolved;
  return info.dli_fname;
}

// ---- finding the Python environment --------------------------------------------------------
// 1. BGMATTE_PYTHON (the environment's python executable) and optionally
//    BGMATTE_SITE_PACKAGES (':'-separated); site-packages default to
//    <prefix>/lib/pythonX.Y/site-packages with <prefix> the executable's ../..
// 2. Contents/Resources/bgmatte-python.cfg in the bundle: `python=` and `site_packages=`
//    lines, written at build time by CMake and rewritten by `bgmatte install-ofx`.
// 3. The bundle's own place: inside <site-packages>/bgmatte/host_bridge/ofx/.
struct PythonEnv {
  std::string python;
  std::vector<std::string> site_packages;
  std::string source;
};

PythonEnv find_environment() {
  PythonEnv env;
  const std::string self = self_path();
  const char* from_env = std::getenv("BGMATTE_PYTHON");
  if (from_env != nullptr && *from_env != '\0') {
    env.python = from_env;
    env.source = "BGMATTE_PYTHON";
    const char* sites = std::getenv("BGMATTE_SITE_PACKAGES");
    if (sites != nullptr && *sites != '\0') {
      env.site_packages = split_paths(sites);
    } else {
      const std::string prefix = dirname_of(dirname_of(env.python));
      env.site_packages.push_back(prefix + "/lib/python" + std::to_string(PY_MAJOR_VERSION) +
                                  "." + std::to_string(PY_MINOR_VERSION) + "/site-packages");
    }
    return env;
  }
  if (!self.empty()) {
    const std::string cfg = dirname_of(dirname_of(self)) + "/Resources/bgmatte-python.cfg";
    std::ifstream in(cfg);
    std::string line;
    while (std::getline(in, line)) {
      line = trim(line);
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = trim(line.substr(0, eq));
      const std::string value = trim(line.substr(eq + 1));
      if (key == "python") env.python = value;
      if (key == "site_packages") {
        for (const auto& p : split_paths(value)) env.site_packages.push_back(p);
      }
    }
    if (!env.python.empty() || !env.site_packages.empty()) env.source = cfg;
    // .../<site>/bgmatte/host_bridge/ofx/bgmatte.ofx.bundle/Contents/<arch>/bgmatte.ofx
    std::string site = self;
    for (int i = 0; i < 7; ++i) site = dirname_of(site);
    if (is_dir(site + "/bgmatte")) {
      env.site_packages.push_back(site);
      if (env.source.empty()) env.source = "the bundle's place in " + site;
    }
  }
  return env;
}

std::string describe_env(const PythonEnv& env) {
  std::string s = "python=" + (env.python.empty() ? std::string("(host's)") : env.python);
  for (const auto& p : env.site_packages) s += " site=" + p;
  return s + " (from " + (env.source.empty() ? std::string("nothing found") : env.source) + ")";
}

// Text for a Python exception: BgmatteError reads as itself; tracebacks go to stderr.
std::string python_error_text(py::error_already_set& err) {
  std::string text;
  try {
    if (gBridge != nullptr) {
      text = py::str(gBridge->attr("error_message")(err.value()));
    } else {
      py::module_::import("traceback").attr("print_exception")(err.value());
      text = "bgmatte: " + py::str(err.type().attr("__name__")).cast<std::string>() + ": " +
             py::str(err.value()).cast<std::string>();
    }
  } catch (...) {
    text = std::string("bgmatte: ") + err.what();
  }
  return text;
}

Description* description();

// Called with gInitMutex held and the GIL held.
void import_bridge(const PythonEnv& env) {
  py::module_ site = py::module_::import("site");
  py::module_ sys = py::module_::import("sys");
  for (const auto& p : env.site_packages) {
    if (is_dir(p)) site.attr("addsitedir")(p);
  }
  if (!py::hasattr(sys, "argv") || py::len(sys.attr("argv")) == 0) {
    py::list argv;
    argv.append("bgmatte.ofx");
    sys.attr("argv") = argv;  // some libraries read sys.argv[0]
  }
  gBridge = new py::object(py::module_::import(kBridgeModule));
  description();  // read once here, single-threaded; actions only read it
}

// Start (or join) the interpreter and import the bridge; false + message when impossible.
bool ensure_python(std::string& error) {
  std::lock_guard<std::mutex> lock(gInitMutex);
  if (gPythonReady) return true;
  if (!gInitError.empty()) {
    error = gInitError;
    return false;
  }
  // Hosts open plug-ins RTLD_LOCAL: make the libpython we link globally visible so that
  // extension modules (numpy, torch) find its symbols.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&Py_IsInitialized), &info) != 0 && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
  const PythonEnv env = find_environment();
  const bool own = !Py_IsInitialized();
  if (own) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;  // the host owns SIGINT & co.
    config.parse_argv = 0;
    config.use_environment = 0;  // ignore the host's PYTHONHOME / PYTHONPATH
    config.user_site_directory = 0;
    PyStatus status = PyStatus_Ok();
    if (!env.python.empty()) {
      status = PyConfig_SetBytesString(&config, &config.program_name, env.python.c_str());
    }
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
      gInitError = std::string("bgmatte: could not start Python: ") +
                   (status.err_msg ? status.err_msg : "unknown error") + "; " +
                   describe_env(env) + "; set BGMATTE_PYTHON to the environment's python";
      error = gInitError;
      return false;
    }
  }
  // Own interpreter: this thread holds the GIL now. Host's interpreter: take it.
  PyGILState_STATE state{};
  if (!own) state = PyGILState_Ensure();
  bool ok = true;
  try {
    import_bridge(env);
  } catch (py::error_already_set& err) {
    gInitError = python_error_text(err) + "; Python environment: " + describe_env(env) +
                 "; set BGMATTE_PYTHON to the python of the environment where bgmatte is installed";
    ok = false;
  } catch (const std::exception& err) {
    gInitError = std::string("bgmatte: ") + err.what();
    ok = false;
  }
  if (own) {
    PyEval_SaveThread();  // release the GIL for good; every action takes it back
  } else {
    PyGILState_Release(state);
  }
  if (!ok) {
    error = gInitError;
    return false;
  }
  gPythonReady = true;
  return true;
}

// ---- properties ------------------------------------------------------------------------------
void set_string(OfxPropertySetHandle p, const char* name, const std::string& v, int i = 0) {
  gProp->propSetString(p, name, i, v.c_str());
}
void set_int(OfxPropertySetHandle p, const char* name, int v, int i = 0) {
  gProp->propSetInt(p, name, i, v);
}
void set_double(OfxPropertySetHandle p, const char* name, double v, int i = 0) {
  gProp->propSetDouble(p, name, i, v);
}

Description* description() {
  // Called with the GIL held.
  if (gDescription != nullptr) return gDescription;
  py::dict d = gBridge->attr("describe")();
  if (d["identifier"].cast<std::string>() != kPluginId) {
    throw std::runtime_error("the Python side describes another plug-in: " +
                             d["identifier"].cast<std::string>());
  }
  auto* desc = new Description();
  desc->label = d["label"].cast<std::string>();
  desc->grouping = d["grouping"].cast<std::string>();
  desc->description = d["description"].cast<std::string>();
  for (auto item : d["clips"].cast<py::list>()) {
    py::dict c = item.cast<py::dict>();
    ClipDesc clip;
    clip.name = c["name"].cast<std::string>();
    clip.label = c["label"].cast<std::string>();
    clip.hint = c["hint"].cast<std::string>();
    clip.optional = c["optional"].cast<bool>();
    clip.mask = c["mask"].cast<bool>();
    clip.components = c["components"].cast<std::vector<std::string>>();
    desc->clips.push_back(clip);
  }
  for (auto item : d["params"].cast<py::list>()) {
    py::dict p = item.cast<py::dict>();
    ParamDesc param;
    param.name = p["name"].cast<std::string>();
    param.label = p["label"].cast<std::string>();
    param.hint = p["hint"].cast<std::string>();
    param.kind = p["kind"].cast<std::string>();
    if (param.kind == "float") {
      param.ddefault = p["default"].cast<double>();
    } else if (param.kind == "string" || param.kind == "path") {
      param.sdefault = p["default"].cast<std::string>();
    } else {
      param.idefault = p["default"].cast<long>();
    }
    if (!p["range"].is_none()) {
      auto r = p["range"].cast<std::vector<double>>();
      param.has_range = r.size() == 2;
      if (param.has_range) {
        param.lo = r[0];
        param.hi = r[1];
      }
    }
    if (!p["choices"].is_none()) param.choices = p["choices"].cast<std::vector<std::string>>();
    desc->params.push_back(param);
  }
  gDescription = desc;
  return desc;
}

// ---- actions ---------------------------------------------------------------------------------
OfxStatus fetch_suites() {
  if (gHost == nullptr) return kOfxStatErrMissingHostFeature;
  gProp = static_cast<const OfxPropertySuiteV1*>(gHost->fetchSuite(gHost->host, ofx::kPropertySuite, 1));
  gEffect = static_cast<const OfxImageEffectSuiteV1*>(
      gHost->fetchSuite(gHost->host, ofx::kImageEffectSuite, 1));
  gParam = static_cast<const OfxParameterSuiteV1*>(
      gHost->fetchSuite(gHost->host, ofx::kParameterSuite, 1));
  gMessage = static_cast<const OfxMessageSuiteV1*>(
      gHost->fetchSuite(gHost->host, ofx::kMessageSuite, 1));
  gProgress = static_cast<const OfxProgressSuiteV1*>(
      gHost->fetchSuite(gHost->host, ofx::kProgressSuite, 1));
  if (gProp == nullptr || gEffect == nullptr || gParam == nullptr) {
    return kOfxStatErrMissingHostFeature;
  }
  return kOfxStatOK;
}

OfxStatus on_describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  const Description* d = description();
  set_string(props, ofx::kPropLabel, d->label);
  set_string(props, ofx::kPropShortLabel, "bgmatte");
  set_string(props, ofx::kPropLongLabel, d->label);
  set_string(props, ofx::kPropPluginDescription, d->description);
  set_int(props, ofx::kPropVersion, static_cast<int>(kVersionMajor), 0);
  set_int(props, ofx::kPropVersion, static_cast<int>(kVersionMinor), 1);
  set_string(props, ofx::kPropVersionLabel,
             std::to_string(kVersionMajor) + "." + std::to_string(kVersionMinor));
  set_string(props, ofx::kGrouping, d->grouping);
  set_string(props, ofx::kSupportedContexts, ofx::kContextGeneral, 0);
  set_string(props, ofx::kSupportedContexts, ofx::kContextFilter, 1);
  set_string(props, ofx::kSupportedPixelDepths, ofx::kBitDepthFloat, 0);
  set_int(props, ofx::kSupportsTiles, 1);
  set_int(props, ofx::kSupportsMultiResolution, 1);
  set_int(props, ofx::kSupportsMultipleClipDepths, 0);
  // temporal_radius > 0 reads neighbouring frames; a fixed window, so any render order works.
  set_int(props, ofx::kTemporalClipAccess, 1);
  set_int(props, ofx::kSequentialRender, 0);
  set_int(props, ofx::kSingleInstance, 0);
  set_int(props, ofx::kHostFrameThreading, 0);  // the node solves whole frames itself
  set_string(props, ofx::kRenderThreadSafety, ofx::kRenderFullySafe);
  return kOfxStatOK;
}

OfxStatus on_describe_in_context(OfxImageEffectHandle effect) {
  const Description* d = description();
  for (const auto& c : d->clips) {
    OfxPropertySetHandle props = nullptr;
    gEffect->clipDefine(effect, c.name.c_str(), &props);
    set_string(props, ofx::kPropLabel, c.label);
    for (size_t i = 0; i < c.components.size(); ++i) {
      set_string(props, ofx::kSupportedComponents, c.components[i], static_cast<int>(i));
    }
    set_int(props, ofx::kSupportsTiles, 1);
    set_int(props, ofx::kTemporalClipAccess, 1);
    set_int(props, ofx::kClipOptional, c.optional ? 1 : 0);
    set_int(props, ofx::kClipIsMask, c.mask ? 1 : 0);
  }
  OfxPropertySetHandle out = nullptr;
  gEffect->clipDefine(effect, ofx::kOutputClipName, &out);
  set_string(out, ofx::kSupportedComponents, ofx::kComponentRGBA);
  set_int(out, ofx::kSupportsTiles, 1);

  OfxParamSetHandle params = nullptr;
  gEffect->getParamSet(effect, &params);
  for (const auto& p : d->params) {
    const char* type = p.kind == "choice"  ? ofx::kParamTypeChoice
                       : p.kind == "float" ? ofx::kParamTypeDouble
                       : p.kind == "int"   ? ofx::kParamTypeInteger
                       : p.kind == "bool"  ? ofx::kParamTypeBoolean
                                           : ofx::kParamTypeString;
    OfxPropertySetHandle pp = nullptr;
    if (gParam->paramDefine(params, type, p.name.c_str(), &pp) != kOfxStatOK || pp == nullptr) {
      continue;
    }
    set_string(pp, ofx::kPropLabel, p.label);
    set_string(pp, ofx::kParamPropHint, p.hint);
    set_string(pp, ofx::kParamPropScriptName, p.name);
    if (p.kind == "float") {
      set_double(pp, ofx::kParamPropDefault, p.ddefault);
      if (p.has_range) {
        set_double(pp, ofx::kParamPropMin, p.lo);
        set_double(pp, ofx::kParamPropMax, p.hi);
        set_double(pp, ofx::kParamPropDisplayMin, p.lo);
        set_double(pp, ofx::kParamPropDisplayMax, p.hi);
      }
    } else if (p.kind == "int") {
      set_int(pp, ofx::kParamPropDefault, static_cast<int>(p.idefault));
      if (p.has_range) {
        set_int(pp, ofx::kParamPropMin, static_cast<int>(p.lo));
        set_int(pp, ofx::kParamPropMax, static_cast<int>(p.hi));
        set_int(pp, ofx::kParamPropDisplayMin, static_cast<int>(p.lo));
        set_int(pp, ofx::kParamPropDisplayMax, static_cast<int>(p.hi));
      }
    } else if (p.kind == "bool") {
      set_int(pp, ofx::kParamPropDefault, static_cast<int>(p.idefault));
      set_int(pp, ofx::kParamPropAnimates, 0);
    } else if (p.kind == "choice") {
      for (size_t i = 0; i < p.choices.size(); ++i) {
        set_string(pp, ofx::kParamPropChoiceOption, p.choices[i], static_cast<int>(i));
      }
      set_int(pp, ofx::kParamPropDefault, static_cast<int>(p.idefault));
      set_int(pp, ofx::kParamPropAnimates, 0);
    } else {
      set_string(pp, ofx::kParamPropDefault, p.sdefault);
      set_int(pp, ofx::kParamPropAnimates, 0);
      if (p.kind == "path") {
        set_string(pp, ofx::kParamPropStringMode, ofx::kParamStringIsFilePath);
        set_int(pp, ofx::kParamPropStringFilePathExists, 1);
      } else {
        set_string(pp, ofx::kParamPropStringMode, ofx::kParamStringIsSingleLine);
      }
    }
  }
  return kOfxStatOK;
}

Instance* instance_of(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  void* data = nullptr;
  gProp->propGetPointer(props, ofx::kPropInstanceData, 0, &data);
  return static_cast<Instance*>(data);
}

OfxStatus on_create_instance(OfxImageEffectHandle effect) {
  auto* inst = new Instance();
  inst->effect = effect;
  inst->py_effect = new py::object(gBridge->attr("Effect")());
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  gProp->propSetPointer(props, ofx::kPropInstanceData, 0, inst);
  return kOfxStatOK;
}

OfxStatus on_destroy_instance(OfxImageEffectHandle effect) {
  Instance* inst = instance_of(effect);
  if (inst != nullptr) {
    delete inst->py_effect;  // GIL held by the caller
    delete inst;
    OfxPropertySetHandle props = nullptr;
    gEffect->getPropertySet(effect, &props);
    gProp->propSetPointer(props, ofx::kPropInstanceData, 0, nullptr);
  }
  return kOfxStatOK;
}

OfxImageClipHandle clip_handle(OfxImageEffectHandle effect, const std::string& name,
                               bool* connected = nullptr) {
  OfxImageClipHandle clip = nullptr;
  OfxPropertySetHandle props = nullptr;
  if (gEffect->clipGetHandle(effect, name.c_str(), &clip, &props) != kOfxStatOK) return nullptr;
  if (connected != nullptr) {
    int c = 0;
    *connected = props != nullptr && gProp->propGetInt(props, ofx::kClipConnected, 0, &c) ==
                                         kOfxStatOK && c != 0;
  }
  return clip;
}

OfxStatus on_region_of_definition(OfxImageEffectHandle effect, OfxPropertySetHandle in,
                                  OfxPropertySetHandle out) {
  double time = 0.0;
  gProp->propGetDouble(in, ofx::kPropTime, 0, &time);
  OfxImageClipHandle source = clip_handle(effect, "Source");
  if (source == nullptr) return kOfxStatReplyDefault;
  OfxRectD rod{};
  if (gEffect->clipGetRegionOfDefinition(source, time, &rod) != kOfxStatOK) {
    return kOfxStatReplyDefault;
  }
  gProp->propSetDoubleN(out, ofx::kRegionOfDefinition, 4, &rod.x1);
  return kOfxStatOK;
}

// The node solves whole frames (its noise and exposure estimates are global): every input is
// needed over its whole region of definition, whatever the tile.
OfxStatus on_regions_of_interest(OfxImageEffectHandle effect, OfxPropertySetHandle in,
                                 OfxPropertySetHandle out) {
  double time = 0.0;
  gProp->propGetDouble(in, ofx::kPropTime, 0, &time);
  const Description* d = description();
  for (const auto& c : d->clips) {
    bool connected = false;
    OfxImageClipHandle clip = clip_handle(effect, c.name, &connected);
    if (clip == nullptr || !connected) continue;
    OfxRectD rod{};
    if (gEffect->clipGetRegionOfDefinition(clip, time, &rod) != kOfxStatOK) continue;
    const std::string prop = std::string(ofx::kClipRoIPrefix) + c.name;
    gProp->propSetDoubleN(out, prop.c_str(), 4, &rod.x1);
  }
  return kOfxStatOK;
}

OfxStatus on_clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle out) {
  const Description* d = description();
  for (const auto& c : d->clips) {
    if (c.mask) continue;  // alpha or RGBA, as the host has it
    std::string prop = std::string(ofx::kClipComponentsPrefix) + c.name;
    gProp->propSetString(out, prop.c_str(), 0, ofx::kComponentRGBA);
    prop = std::string(ofx::kClipDepthPrefix) + c.name;
    gProp->propSetString(out, prop.c_str(), 0, ofx::kBitDepthFloat);
  }
  std::string prop = std::string(ofx::kClipComponentsPrefix) + ofx::kOutputClipName;
  gProp->propSetString(out, prop.c_str(), 0, ofx::kComponentRGBA);
  prop = std::string(ofx::kClipDepthPrefix) + ofx::kOutputClipName;
  gProp->propSetString(out, prop.c_str(), 0, ofx::kBitDepthFloat);
  // Premultiplication of the output follows the pass: rgba is premultiplied.
  int output_index = 0;
  OfxParamSetHandle params = nullptr;
  gEffect->getParamSet(effect, &params);
  OfxParamHandle handle = nullptr;
  if (params != nullptr &&
      gParam->paramGetHandle(params, "output", &handle, nullptr) == kOfxStatOK) {
    gParam->paramGetValue(handle, &output_index);
  }
  const char* premult = ofx::kImageOpaque;
  for (const auto& p : d->params) {
    if (p.name == "output" && output_index >= 0 &&
        output_index < static_cast<int>(p.choices.size())) {
      const std::string& pass = p.choices[static_cast<size_t>(output_index)];
      if (pass == "rgba") premult = ofx::kImagePreMultiplied;
      if (pass == "foreground") premult = ofx::kImageUnPreMultiplied;
    }
  }
  gProp->propSetString(out, ofx::kPreMultiplication, 0, premult);
  return kOfxStatOK;
}

// One fetched image; released when it goes out of scope.
struct HostImage {
  OfxPropertySetHandle handle = nullptr;
  void* data = nullptr;
  OfxRectI bounds{};
  int row_bytes = 0;
  int channels = 0;
  std::string depth;
  HostImage() = default;
  HostImage(const HostImage&) = delete;
  HostImage& operator=(const HostImage&) = delete;
  ~HostImage() {
    if (handle != nullptr) gEffect->clipReleaseImage(handle);
  }
  bool empty() const {
    return data == nullptr || bounds.x2 <= bounds.x1 || bounds.y2 <= bounds.y1;
  }
};

// False when the host gives no image (a disconnected clip, or an empty one).
bool fetch_image(OfxImageClipHandle clip, OfxTime time, HostImage& img) {
  if (clip == nullptr) return false;
  if (gEffect->clipGetImage(clip, time, nullptr, &img.handle) != kOfxStatOK ||
      img.handle == nullptr) {
    img.handle = nullptr;
    return false;
  }
  gProp->propGetPointer(img.handle, ofx::kImageData, 0, &img.data);
  gProp->propGetIntN(img.handle, ofx::kImageBounds, 4, &img.bounds.x1);
  gProp->propGetInt(img.handle, ofx::kImageRowBytes, 0, &img.row_bytes);
  char* components = nullptr;
  gProp->propGetString(img.handle, ofx::kComponents, 0, &components);
  char* depth = nullptr;
  gProp->propGetString(img.handle, ofx::kPixelDepth, 0, &depth);
  const std::string comps = components != nullptr ? components : "";
  img.channels = comps == ofx::kComponentRGBA    ? 4
                 : comps == ofx::kComponentRGB   ? 3
                 : comps == ofx::kComponentAlpha ? 1
                                                 : 0;
  img.depth = depth != nullptr ? depth : "";
  return !img.empty();
}

// A NumPy view of the host's memory (rows in OpenFX order, bottom-up); no copy.
py::object view_of(const HostImage& img, const std::string& clip) {
  if (img.depth != ofx::kBitDepthFloat) {
    throw std::runtime_error("clip " + clip + " gives " + img.depth +
                             " pixels; the plug-in renders 32-bit float only");
  }
  if (img.channels == 0) {
    throw std::runtime_error("clip " + clip + " has components the plug-in does not know");
  }
  const py::ssize_t rows = img.bounds.y2 - img.bounds.y1;
  const py::ssize_t cols = img.bounds.x2 - img.bounds.x1;
  const py::ssize_t pixel = static_cast<py::ssize_t>(img.channels) * sizeof(float);
  py::capsule owner(img.data);  // the host owns the memory; the view lives for one render
  py::array_t<float> arr({rows, cols, static_cast<py::ssize_t>(img.channels)},
                         {static_cast<py::ssize_t>(img.row_bytes), pixel,
                          static_cast<py::ssize_t>(sizeof(float))},
                         static_cast<float*>(img.data), owner);
  py::tuple bounds = py::make_tuple(img.bounds.x1, img.bounds.y1, img.bounds.x2, img.bounds.y2);
  return py::make_tuple(bounds, arr);
}

// Parameter values at ``time``, raw (choice index, bool as int): ofx_bridge converts.
py::dict read_params(OfxImageEffectHandle effect, double time) {
  py::dict params;
  OfxParamSetHandle param_set = nullptr;
  gEffect->getParamSet(effect, &param_set);
  const Description* d = description();
  for (const auto& p : d->params) {
    OfxParamHandle h = nullptr;
    if (gParam->paramGetHandle(param_set, p.name.c_str(), &h, nullptr) != kOfxStatOK) continue;
    if (p.kind == "float") {
      double v = 0.0;
      if (gParam->paramGetValueAtTime(h, time, &v) == kOfxStatOK) params[p.name.c_str()] = v;
    } else if (p.kind == "string" || p.kind == "path") {
      char* v = nullptr;
      if (gParam->paramGetValueAtTime(h, time, &v) == kOfxStatOK) {
        params[p.name.c_str()] = std::string(v != nullptr ? v : "");
      }
    } else {
      int v = 0;
      if (gParam->paramGetValueAtTime(h, time, &v) == kOfxStatOK) params[p.name.c_str()] = v;
    }
  }
  return params;
}

// The temporal window's half width (param temporal_radius), 0 when the host has no value.
int temporal_radius(OfxImageEffectHandle effect, double time) {
  OfxParamSetHandle param_set = nullptr;
  gEffect->getParamSet(effect, &param_set);
  OfxParamHandle h = nullptr;
  int r = 0;
  if (param_set != nullptr &&
      gParam->paramGetHandle(param_set, "temporal_radius", &h, nullptr) == kOfxStatOK) {
    gParam->paramGetValueAtTime(h, time, &r);
  }
  return r < 0 ? 0 : r;
}

// Frames N-r..N+r of every input clip (the host clamps to what the clips have).
OfxStatus on_frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle in,
                           OfxPropertySetHandle out) {
  double time = 0.0;
  gProp->propGetDouble(in, ofx::kPropTime, 0, &time);
  const int r = temporal_radius(effect, time);
  if (r == 0) return kOfxStatReplyDefault;  // the current frame only
  const double range[2] = {time - r, time + r};
  for (const auto& c : description()->clips) {
    const std::string prop = std::string(ofx::kClipFrameRangePrefix) + c.name;
    gProp->propSetDoubleN(out, prop.c_str(), 2, range);
  }
  return kOfxStatOK;
}

// Identity where the chosen pass is an input unchanged (ofx_bridge.Effect.identity says).
OfxStatus on_is_identity(OfxImageEffectHandle effect, OfxPropertySetHandle in,
                         OfxPropertySetHandle out) {
  Instance* inst = instance_of(effect);
  if (inst == nullptr || inst->py_effect == nullptr) return kOfxStatReplyDefault;
  double time = 0.0;
  gProp->propGetDouble(in, ofx::kPropTime, 0, &time);
  py::object clip = inst->py_effect->attr("identity")(read_params(effect, time));
  if (clip.is_none()) return kOfxStatReplyDefault;
  set_string(out, ofx::kPropName, clip.cast<std::string>());
  set_double(out, ofx::kPropTime, time);
  return kOfxStatOK;
}

// Progress bar for one render: started here, ended when it goes out of scope.
struct ProgressBar {
  OfxImageEffectHandle effect;
  bool on = false;
  explicit ProgressBar(OfxImageEffectHandle e) : effect(e) {
    on = gProgress != nullptr && gProgress->progressStart != nullptr &&
         gProgress->progressStart(effect, "bgmatte") == kOfxStatOK;
  }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() {
    if (on && gProgress->progressEnd != nullptr) gProgress->progressEnd(effect);
  }
  // True when the render should stop: the host aborted, or the user cancelled the bar.
  bool update(double fraction) const {
    bool stop = gEffect->abort != nullptr && gEffect->abort(effect) != 0;
    if (on && gProgress->progressUpdate != nullptr &&
        gProgress->progressUpdate(effect, fraction) == kOfxStatReplyNo) {
      stop = true;
    }
    return stop;
  }
};

OfxStatus on_render(OfxImageEffectHandle effect, OfxPropertySetHandle in) {
  Instance* inst = instance_of(effect);
  if (inst == nullptr || inst->py_effect == nullptr) {
    post_error(effect, "bgmatte: render called on an instance that was never created");
    return kOfxStatFailed;
  }
  double time = 0.0;
  gProp->propGetDouble(in, ofx::kPropTime, 0, &time);
  OfxRectI window{};
  gProp->propGetIntN(in, ofx::kRenderWindow, 4, &window.x1);

  py::dict params = read_params(effect, time);
  const Description* d = description();
  // Every connected input at this time, and at the temporal window's other frames (those
  // the host has: a failed fetch past the clip's ends simply leaves that frame out).
  const int r = temporal_radius(effect, time);
  std::vector<std::unique_ptr<HostImage>> held;
  py::dict images;
  py::dict neighbours;
  for (int offset = -r; offset <= r; ++offset) {
    py::dict at;
    bool have_source = false;
    for (const auto& c : d->clips) {
      bool connected = false;
      OfxImageClipHandle clip = clip_handle(effect, c.name, &connected);
      held.push_back(std::make_unique<HostImage>());
      if (connected && fetch_image(clip, time + offset, *held.back())) {
        at[c.name.c_str()] = view_of(*held.back(), c.name);
        if (c.name == "Source") have_source = true;
      } else {
        at[c.name.c_str()] = py::none();
      }
    }
    if (offset == 0) {
      images = at;
    } else if (have_source) {
      neighbours[py::int_(static_cast<long>(time) + offset)] = at;
    }
  }
  HostImage output;
  if (!fetch_image(clip_handle(effect, ofx::kOutputClipName), time, output)) {
    post_error(effect, "bgmatte: the host gave no output image to render into");
    return kOfxStatFailed;
  }
  py::object out_view = view_of(output, ofx::kOutputClipName);
  py::tuple win = py::make_tuple(window.x1, window.y1, window.x2, window.y2);
  ProgressBar bar(effect);
  if (bar.update(0.0)) return kOfxStatOK;  // aborted before anything was done
  py::cpp_function progress([&bar](double fraction) { return bar.update(fraction); });
  inst->py_effect->attr("render")(time, win, params, images, out_view, neighbours, progress);
  return kOfxStatOK;
}

OfxStatus dispatch(const char* action, OfxImageEffectHandle effect, OfxPropertySetHandle in,
                   OfxPropertySetHandle out) {
  if (std::strcmp(action, ofx::kActionDescribe) == 0) return on_describe(effect);
  if (std::strcmp(action, ofx::kActionDescribeInContext) == 0) {
    return on_describe_in_context(effect);
  }
  if (std::strcmp(action, ofx::kActionCreateInstance) == 0) return on_create_instance(effect);
  if (std::strcmp(action, ofx::kActionDestroyInstance) == 0) return on_destroy_instance(effect);
  if (std::strcmp(action, ofx::kActionRender) == 0) return on_render(effect, in);
  if (std::strcmp(action, ofx::kActionGetRoD) == 0) {
    return on_region_of_definition(effect, in, out);
  }
  if (std::strcmp(action, ofx::kActionGetRoIs) == 0) {
    return on_regions_of_interest(effect, in, out);
  }
  if (std::strcmp(action, ofx::kActionGetFramesNeeded) == 0) {
    return on_frames_needed(effect, in, out);
  }
  if (std::strcmp(action, ofx::kActionIsIdentity) == 0) return on_is_identity(effect, in, out);
  if (std::strcmp(action, ofx::kActionGetClipPreferences) == 0) {
    return on_clip_preferences(effect, out);
  }
  if (std::strcmp(action, ofx::kActionPurgeCaches) == 0) {
    Instance* inst = instance_of(effect);
    if (inst != nullptr && inst->py_effect != nullptr) inst->py_effect->attr("purge")();
    return kOfxStatOK;
  }
  return kOfxStatReplyDefault;
}

OfxStatus main_entry(const char* action, const void* handle, OfxPropertySetHandle in,
                     OfxPropertySetHandle out) {
  if (action == nullptr) return kOfxStatErrBadHandle;
  try {
    if (std::strcmp(action, ofx::kActionLoad) == 0) {
      const OfxStatus s = fetch_suites();
      if (s != kOfxStatOK) return s;
      std::string error;
      if (!ensure_python(error)) {
        post_error(nullptr, error);
        return kOfxStatFailed;
      }
      return kOfxStatOK;
    }
    if (std::strcmp(action, ofx::kActionUnload) == 0) return kOfxStatOK;  // Python stays up
    if (gProp == nullptr && fetch_suites() != kOfxStatOK) return kOfxStatErrMissingHostFeature;
    std::string error;
    if (!ensure_python(error)) {
      post_error(handle, error);
      return kOfxStatFailed;
    }
    auto* effect = static_cast<OfxImageEffectHandle>(const_cast<void*>(handle));
    py::gil_scoped_acquire gil;
    try {
      return dispatch(action, effect, in, out);
    } catch (py::error_already_set& err) {
      // An abort the host asked for is not an error: stop quietly.
      if (gBridge != nullptr && err.matches(gBridge->attr("RenderAborted"))) return kOfxStatOK;
      post_error(handle, python_error_text(err));
      return kOfxStatFailed;
    } catch (const std::exception& err) {
      post_error(handle, std::string("bgmatte: ") + err.what());
      return kOfxStatFailed;
    }
  } catch (const std::exception& err) {
    post_error(handle, std::string("bgmatte: ") + err.what());
    return kOfxStatFailed;
  } catch (...) {
    post_error(handle, "bgmatte: unknown C++ exception");
    return kOfxStatFailed;
  }
}

void set_host(OfxHost* host) { gHost = host; }

OfxPlugin gPlugin = {ofx::kImageEffectPluginApi, 1, kPluginId, kVersionMajor, kVersionMinor,
                     set_host, main_entry};

}  // namespace

BGMATTE_EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

BGMATTE_EXPORT OfxPlugin* OfxGetPlugin(int nth) { return nth == 0 ? &gPlugin : nullptr; }
