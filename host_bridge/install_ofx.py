"""``bgmatte install-ofx``: put the OpenFX bundle where compositors look for plug-ins.

The bundle (``bgmatte.ofx.bundle``) is built by CMake on ``pip install .`` and installed inside
the package, next to this module's package in site-packages. Installing it for a host means a
link (default) or a copy (``--copy``) in ``--dest``, else the first folder of
``OFX_PLUGIN_PATH``, else the platform's standard folder. Either way the bundle's
``Contents/Resources/bgmatte-python.cfg`` is (re)written to name the Python environment this
command runs in, which is the one the plug-in will embed.
"""

from __future__ import annotations

import os
import platform
import shutil
import site
import sys
import sysconfig
from pathlib import Path

from bgmatte.errors import BgmatteError

BUNDLE = "bgmatte.ofx.bundle"
BINARY = "bgmatte.ofx"
CONFIG = "bgmatte-python.cfg"


def arch_folder() -> str:
    """The ``Contents/<arch>`` folder name of an OpenFX bundle on this machine."""
    system, machine = platform.system(), platform.machine().lower()
    if system == "Darwin":
        return "MacOS"
    if system == "Windows":
        return "Win64" if sys.maxsize > 2**32 else "Win32"
    if machine in ("x86_64", "amd64"):
        return "Linux-x86-64"
    if machine in ("i386", "i686"):
        return "Linux-x86"
    return f"Linux-{platform.machine()}"


def default_dest() -> Path:
    """First folder of ``OFX_PLUGIN_PATH``, else where hosts look by default."""
    for entry in os.environ.get("OFX_PLUGIN_PATH", "").split(os.pathsep):
        if entry:
            return Path(entry)
    system = platform.system()
    if system == "Darwin":
        return Path("/Library/OFX/Plugins")
    if system == "Windows":
        return Path(r"C:\Program Files\Common Files\OFX\Plugins")
    return Path("/usr/OFX/Plugins")


def _site_dirs() -> list[Path]:
    dirs = [sysconfig.get_path("platlib"), sysconfig.get_path("purelib")]
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # some embedded interpreters lack it
        pass
    seen: list[Path] = []
    for d in dirs:
        p = Path(d)
        if p not in seen:
            seen.append(p)
    return seen


def binary_of(bundle: Path) -> Path:
    """The plug-in binary inside ``bundle``."""
    return bundle / "Contents" / arch_folder() / BINARY


def bundle_path() -> Path | None:
    """The built bundle of this installation (``BGMATTE_OFX_BUNDLE`` overrides), or None."""
    override = os.environ.get("BGMATTE_OFX_BUNDLE")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent / "ofx" / BUNDLE)
    candidates += [d / "bgmatte" / "host_bridge" / "ofx" / BUNDLE for d in _site_dirs()]
    for bundle in candidates:
        if binary_of(bundle).is_file():
            return bundle
    return None


def write_config(bundle: Path) -> Path:
    """Name this interpreter's environment in ``bundle``'s Python config; returns the file."""
    sites = [sysconfig.get_path("platlib")]
    if sysconfig.get_path("purelib") not in sites:
        sites.append(sysconfig.get_path("purelib"))
    path = bundle / "Contents" / "Resources" / CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# The Python environment the bgmatte OpenFX bundle embeds: written by CMake at build\n"
        "# time and by `bgmatte install-ofx`. BGMATTE_PYTHON (and BGMATTE_SITE_PACKAGES)\n"
        "# override it.\n"
        f"python={sys.executable}\n"
        f"site_packages={os.pathsep.join(sites)}\n"
    )
    return path


def install(dest: str | None = None, copy: bool = False) -> list[str]:
    """Link or copy the bundle into ``dest``; returns what was done, one line per step."""
    src = bundle_path()
    if src is None:
        raise BgmatteError(
            "OpenFX bundle",
            "was not built with this installation",
            "reinstall with a C++ compiler present: pip install . (see the build log's warnings)",
        )
    folder = Path(dest) if dest else default_dest()
    target = folder / BUNDLE
    done: list[str] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_file():
            target.unlink()
            done.append(f"removed the old link {target}")
        elif target.is_dir():
            if not binary_of(target).is_file():
                raise BgmatteError(
                    str(target), "exists and is not a bgmatte bundle", "move it away first"
                )
            shutil.rmtree(target)
            done.append(f"removed the old copy {target}")
        if copy:
            shutil.copytree(src, target)
            done.append(f"copied {src} to {target}")
            done.append(f"wrote {write_config(target)}")
        else:
            done.append(f"wrote {write_config(src)}")
            target.symlink_to(src, target_is_directory=True)
            done.append(f"linked {target} -> {src}")
    except PermissionError as err:
        raise BgmatteError(
            str(folder), f"is not writable ({err.strerror})", "pass --dest DIR, or run as admin"
        ) from None
    done.append(f"the plug-in embeds {sys.executable} (override with BGMATTE_PYTHON)")
    if dest and str(folder) not in os.environ.get("OFX_PLUGIN_PATH", "").split(os.pathsep):
        done.append(f"hosts find it with OFX_PLUGIN_PATH={folder}")
    return done
