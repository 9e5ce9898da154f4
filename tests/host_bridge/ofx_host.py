"""A minimal OpenFX host in Python (ctypes), written from the OpenFX spec, for testing the
``bgmatte.ofx`` bundle without a compositor.

:class:`Host` loads the plug-in binary into this process, hands it the property,
image-effect, parameter, message and progress suites (served from Python), and drives
load, describe, describe-in-context, create-instance and render (any other action through
:meth:`Host.action`). Property sets are :class:`Props`; handles are small integers into
``Host.objects``. Clip images are numpy arrays given top-down and stored bottom-up, as
OpenFX lays out rows. Only what ``bgmatte.ofx`` calls is implemented: one plug-in per
binary, float RGBA/alpha images, API version 1 suites.
"""

from __future__ import annotations

import ctypes as C
import threading
from pathlib import Path
from typing import Any

import numpy as np

# ---- the OpenFX C types our host needs ----------------------------------------------------
P = C.c_void_p
STAT = C.c_int
FETCH = C.CFUNCTYPE(P, P, C.c_char_p, C.c_int)
MAIN = C.CFUNCTYPE(STAT, C.c_char_p, P, P, P)


class OfxHost(C.Structure):
    _fields_ = (("host", P), ("fetchSuite", FETCH))


class OfxPlugin(C.Structure):
    _fields_ = (
        ("pluginApi", C.c_char_p),
        ("apiVersion", C.c_int),
        ("pluginIdentifier", C.c_char_p),
        ("versionMajor", C.c_uint),
        ("versionMinor", C.c_uint),
        ("setHost", C.CFUNCTYPE(None, C.POINTER(OfxHost))),
        ("mainEntry", MAIN),
    )


def _suite(name: str, fields: list[tuple[str, Any]]) -> type[C.Structure]:
    return type(name, (C.Structure,), {"_fields_": fields})


def _fill(suite: type[C.Structure], *functions: Any) -> C.Structure:
    """A suite struct whose members call ``functions`` (None: a null pointer)."""
    members = []
    for (_, ftype), fn in zip(suite._fields_, functions, strict=True):  # type: ignore[attr-defined]
        members.append(None if fn is None else ftype(fn))
    return suite(*members)


_F = C.CFUNCTYPE
PropSuite = _suite(
    "PropSuite",
    [
        ("setPointer", _F(STAT, P, C.c_char_p, C.c_int, P)),
        ("setString", _F(STAT, P, C.c_char_p, C.c_int, C.c_char_p)),
        ("setDouble", _F(STAT, P, C.c_char_p, C.c_int, C.c_double)),
        ("setInt", _F(STAT, P, C.c_char_p, C.c_int, C.c_int)),
        ("setPointerN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(P))),
        ("setStringN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_char_p))),
        ("setDoubleN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_double))),
        ("setIntN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_int))),
        ("getPointer", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(P))),
        ("getString", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(P))),
        ("getDouble", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_double))),
        ("getInt", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_int))),
        ("getPointerN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(P))),
        ("getStringN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(P))),
        ("getDoubleN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_double))),
        ("getIntN", _F(STAT, P, C.c_char_p, C.c_int, C.POINTER(C.c_int))),
        ("reset", _F(STAT, P, C.c_char_p)),
        ("getDimension", _F(STAT, P, C.c_char_p, C.POINTER(C.c_int))),
    ],
)
EffectSuite = _suite(
    "EffectSuite",
    [
        ("getPropertySet", _F(STAT, P, C.POINTER(P))),
        ("getParamSet", _F(STAT, P, C.POINTER(P))),
        ("clipDefine", _F(STAT, P, C.c_char_p, C.POINTER(P))),
        ("clipGetHandle", _F(STAT, P, C.c_char_p, C.POINTER(P), C.POINTER(P))),
        ("clipGetPropertySet", _F(STAT, P, C.POINTER(P))),
        ("clipGetImage", _F(STAT, P, C.c_double, P, C.POINTER(P))),
        ("clipReleaseImage", _F(STAT, P)),
        ("clipGetRegionOfDefinition", _F(STAT, P, C.c_double, C.POINTER(C.c_double))),
        ("abort", _F(C.c_int, P)),
        ("memAlloc", P),
        ("memFree", P),
        ("memLock", P),
        ("memUnlock", P),
    ],
)
# The variadic calls (paramGetValue*, message) are served with their x86-64 register layout.
ParamSuite = _suite(
    "ParamSuite",
    [
        ("paramDefine", _F(STAT, P, C.c_char_p, C.c_char_p, C.POINTER(P))),
        ("paramGetHandle", _F(STAT, P, C.c_char_p, C.POINTER(P), C.POINTER(P))),
        ("paramSetGetPropertySet", P),
        ("paramGetPropertySet", P),
        ("paramGetValue", _F(STAT, P, P)),
        ("paramGetValueAtTime", _F(STAT, P, C.c_double, P)),
        *((n, P) for n in ("deriv", "integral", "setValue", "setValueAtTime", "numKeys")),
        *((n, P) for n in ("keyTime", "keyIndex", "delKey", "delAll", "copy", "editB", "editE")),
    ],
)
MessageSuite = _suite(
    "MessageSuite", [("message", _F(STAT, P, C.c_char_p, C.c_char_p, C.c_char_p, C.c_char_p))]
)
ProgressSuite = _suite(
    "ProgressSuite",
    [
        ("progressStart", _F(STAT, P, C.c_char_p)),
        ("progressUpdate", _F(STAT, P, C.c_double)),
        ("progressEnd", _F(STAT, P)),
    ],
)


class Props:
    """A property set: name -> list of values (bytes, int, float, or pointer ints)."""

    def __init__(self, **values: Any) -> None:
        self.values: dict[str, list[Any]] = {k: list(v) for k, v in values.items()}
        self.keep: list[Any] = []  # buffers handed to the plug-in


class Host:
    """A minimal OpenFX host in Python: one plug-in, instances, images from arrays."""

    def __init__(self, binary: Path) -> None:
        self.objects: dict[int, Any] = {}
        self.messages: list[str] = []
        self.progress: list[Any] = []  # "start", fractions, "end"
        self.cancel_after: int | None = None  # progress updates before the user cancels
        self.aborted = False
        self.lock = threading.Lock()
        self._build_suites()
        self.lib = C.CDLL(str(binary))  # RTLD_LOCAL, as hosts do
        self.lib.OfxGetNumberOfPlugins.restype = C.c_int
        self.lib.OfxGetPlugin.restype = C.POINTER(OfxPlugin)
        assert self.lib.OfxGetNumberOfPlugins() == 1
        self.plugin = self.lib.OfxGetPlugin(0).contents
        self.host_struct = OfxHost(self.new(Props()), self.fetch_cb)
        self.plugin.setHost(C.byref(self.host_struct))

    # -- handles
    def new(self, obj: Any) -> int:
        with self.lock:
            h = 0x1000 + 16 * len(self.objects)
            self.objects[h] = obj
        return h

    def props(self, h: int | None) -> Props:
        return self.objects[int(h or 0)]

    # -- suites
    def _build_suites(self) -> None:
        def get_props(h: Any, name: bytes) -> Props | None:
            obj = self.objects.get(int(h or 0))
            return obj if isinstance(obj, Props) else None

        def setter(h: Any, name: bytes, i: int, v: Any) -> int:
            p = get_props(h, name)
            if p is None:
                return 9
            vals = p.values.setdefault(name.decode(), [])
            while len(vals) <= i:
                vals.append(None)
            vals[i] = v
            return 0

        def setter_n(conv: Any) -> Any:
            def f(h: Any, name: bytes, n: int, arr: Any) -> int:
                p = get_props(h, name)
                if p is None:
                    return 9
                p.values[name.decode()] = [conv(arr[i]) for i in range(n)]
                return 0

            return f

        def getter(h: Any, name: bytes, i: int, out: Any) -> int:
            p = get_props(h, name)
            vals = None if p is None else p.values.get(name.decode())
            if vals is None or i >= len(vals):
                return 3
            v = vals[i]
            if isinstance(v, bytes):
                buf = C.create_string_buffer(v)
                p.keep.append(buf)  # type: ignore[union-attr]
                out[0] = C.addressof(buf)
            else:
                out[0] = v
            return 0

        def getter_n(h: Any, name: bytes, n: int, out: Any) -> int:
            p = get_props(h, name)
            vals = None if p is None else p.values.get(name.decode())
            if vals is None or len(vals) < n:
                return 3
            for i in range(n):
                if isinstance(vals[i], bytes):
                    buf = C.create_string_buffer(vals[i])
                    p.keep.append(buf)  # type: ignore[union-attr]
                    out[i] = C.addressof(buf)
                else:
                    out[i] = vals[i]
            return 0

        def dimension(h: Any, name: bytes, out: Any) -> int:
            p = get_props(h, name)
            out[0] = len(p.values.get(name.decode(), [])) if p else 0
            return 0

        self.prop_suite = _fill(
            PropSuite,
            setter,
            setter,
            setter,
            setter,
            setter_n(lambda v: v),
            setter_n(lambda v: v),
            setter_n(float),
            setter_n(int),
            getter,
            getter,
            getter,
            getter,
            getter_n,
            getter_n,
            getter_n,
            getter_n,
            lambda h, n: 0,
            dimension,
        )

        def get_property_set(h: Any, out: Any) -> int:
            out[0] = self.objects[int(h)]["props"]
            return 0

        def get_param_set(h: Any, out: Any) -> int:
            out[0] = self.objects[int(h)]["params"]
            return 0

        def clip_define(h: Any, name: bytes, out: Any) -> int:
            eff = self.objects[int(h)]
            clip = self.new({"props": self.new(Props())})
            eff["clips"][name.decode()] = clip
            out[0] = self.objects[clip]["props"]
            return 0

        def clip_get_handle(h: Any, name: bytes, out: Any, props: Any) -> int:
            clip = self.objects[int(h)]["clips"].get(name.decode())
            if clip is None:
                return 10
            out[0] = clip
            if props:
                props[0] = self.objects[clip]["props"]
            return 0

        def clip_get_image(clip: Any, time: float, region: Any, out: Any) -> int:
            c = self.objects[int(clip)]
            image = c.get("frames", {}).get(time, c.get("image"))
            if image is None:
                return 1
            (x1, y1, x2, y2), arr = image
            img = Props(
                OfxImagePropData=[arr.ctypes.data],
                OfxImagePropBounds=[x1, y1, x2, y2],
                OfxImagePropRowBytes=[arr.strides[0]],
                OfxImageEffectPropComponents=[
                    b"OfxImageComponentRGBA" if arr.shape[2] == 4 else b"OfxImageComponentAlpha"
                ],
                OfxImageEffectPropPixelDepth=[b"OfxBitDepthFloat"],
            )
            img.keep.append(arr)
            out[0] = self.new(img)
            return 0

        def clip_rod(clip: Any, time: float, out: Any) -> int:
            c = self.objects[int(clip)]
            if c.get("image") is None:
                return 1
            for i, v in enumerate(c["image"][0]):
                out[i] = float(v)
            return 0

        self.effect_suite = _fill(
            EffectSuite,
            get_property_set,
            get_param_set,
            clip_define,
            clip_get_handle,
            lambda clip, out: 1,
            clip_get_image,
            lambda img: 0,
            clip_rod,
            lambda h: int(self.aborted),
            None,
            None,
            None,
            None,
        )

        def param_define(ps: Any, ptype: bytes, name: bytes, out: Any) -> int:
            params = self.objects[int(ps)]
            p = Props(type=[ptype])
            params[name.decode()] = self.new(p)
            out[0] = params[name.decode()]
            return 0

        def param_get_handle(ps: Any, name: bytes, out: Any, props: Any) -> int:
            h = self.objects[int(ps)].get(name.decode())
            if h is None:
                return 3
            out[0] = h
            if props:
                props[0] = h
            return 0

        def param_value(h: Any, out: Any) -> int:
            p = self.objects[int(h)]
            kind, value = p.values["type"][0], p.values["value"][0]
            if kind == b"OfxParamTypeDouble":
                C.cast(out, C.POINTER(C.c_double))[0] = float(value)
            elif kind == b"OfxParamTypeString":
                buf = C.create_string_buffer(value)
                p.keep.append(buf)
                C.cast(out, C.POINTER(C.c_void_p))[0] = C.addressof(buf)
            else:
                C.cast(out, C.POINTER(C.c_int))[0] = int(value)
            return 0

        self.param_suite = _fill(
            ParamSuite,
            param_define,
            param_get_handle,
            None,
            None,
            param_value,
            lambda h, t, out: param_value(h, out),
            *([None] * 12),
        )

        def message(h: Any, mtype: bytes, mid: bytes, fmt: bytes, arg: bytes) -> int:
            self.messages.append(arg.decode() if fmt == b"%s" else fmt.decode())
            return 0

        self.message_suite = _fill(MessageSuite, message)

        def progress_update(h: Any, fraction: float) -> int:
            self.progress.append(fraction)
            updates = sum(isinstance(v, float) for v in self.progress)
            return 13 if self.cancel_after is not None and updates > self.cancel_after else 0

        self.progress_suite = _fill(
            ProgressSuite,
            lambda h, label: self.progress.append("start") or 0,
            progress_update,
            lambda h: self.progress.append("end") or 0,
        )
        suites = {
            b"OfxPropertySuite": self.prop_suite,
            b"OfxImageEffectSuite": self.effect_suite,
            b"OfxParameterSuite": self.param_suite,
            b"OfxMessageSuite": self.message_suite,
            b"OfxProgressSuite": self.progress_suite,
        }

        def fetch(host: Any, name: bytes, version: int) -> int | None:
            s = suites.get(name)
            return None if s is None or version != 1 else C.addressof(s)

        self.fetch_cb = FETCH(fetch)

    # -- actions
    def action(
        self, name: str, handle: int | None, in_args: Props | None = None, out: Props | None = None
    ) -> int:
        inh = self.new(in_args) if in_args is not None else None
        outh = self.new(out if out is not None else Props())
        return int(self.plugin.mainEntry(name.encode(), handle, inh, outh))

    def describe(self, context: str = "OfxImageEffectContextGeneral") -> dict[str, Any]:
        assert self.action("OfxActionLoad", None) == 0, self.messages
        desc = {"props": self.new(Props()), "params": self.new({}), "clips": {}}
        h = self.new(desc)
        assert self.action("OfxActionDescribe", h) == 0, self.messages
        args = Props(OfxImageEffectPropContext=[context.encode()])
        assert self.action("OfxImageEffectActionDescribeInContext", h, args) == 0, self.messages
        return desc

    def create(self, desc: dict[str, Any], **param_values: Any) -> int:
        params: dict[str, int] = {}
        for name, ph in self.objects[desc["params"]].items():
            p = self.objects[ph]
            value = p.values["OfxParamPropDefault"][0]
            if name in param_values:
                value = param_values[name]
                if p.values["type"][0] == b"OfxParamTypeChoice" and isinstance(value, str):
                    options = [o.decode() for o in p.values["OfxParamPropChoiceOption"]]
                    value = options.index(value)
            params[name] = self.new(Props(type=list(p.values["type"]), value=[value]))
        clips = {
            name: self.new({"props": self.new(Props(OfxImageClipPropConnected=[0]))})
            for name in desc["clips"]
        }
        inst = {"props": self.new(Props()), "params": self.new(params), "clips": clips}
        h = self.new(inst)
        assert self.action("OfxActionCreateInstance", h) == 0, self.messages
        return h

    def connect_frames(self, inst: int, clip: str, frames: dict[int, np.ndarray]) -> None:
        """A clip with a different image per frame (top-down arrays), absent elsewhere."""
        c = self.objects[self.objects[inst]["clips"][clip]]
        c["image"] = None
        c["frames"] = {}
        for frame, top_down in frames.items():
            h, w = top_down.shape[:2]
            arr = np.ascontiguousarray(top_down[::-1], np.float32)
            c["frames"][float(frame)] = ((0, 0, w, h), arr)
        self.props(c["props"]).values["OfxImageClipPropConnected"] = [1]

    def connect(
        self, inst: int, clip: str, top_down: np.ndarray | None, origin: tuple[int, int] = (0, 0)
    ) -> None:
        c = self.objects[self.objects[inst]["clips"][clip]]
        if top_down is None:
            c["image"] = None
            self.props(c["props"]).values["OfxImageClipPropConnected"] = [0]
            return
        h, w = top_down.shape[:2]
        arr = np.ascontiguousarray(top_down[::-1], np.float32)  # OpenFX rows are bottom-up
        c["image"] = ((origin[0], origin[1], origin[0] + w, origin[1] + h), arr)
        self.props(c["props"]).values["OfxImageClipPropConnected"] = [1]

    def render(
        self, inst: int, window: tuple[int, int, int, int], scale: float = 1.0, time: float = 1.0
    ) -> int:
        args = Props(
            OfxPropTime=[time],
            OfxImageEffectPropRenderWindow=list(window),
            OfxImageEffectPropRenderScale=[scale, scale],
            OfxImageEffectPropFieldToRender=[b"OfxImageFieldNone"],
        )
        return self.action("OfxImageEffectActionRender", inst, args)

    def output(self, inst: int) -> np.ndarray:
        c = self.objects[self.objects[inst]["clips"]["Output"]]
        return np.ascontiguousarray(c["image"][1][::-1])  # back to top-down
