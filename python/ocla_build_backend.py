# SPDX-License-Identifier: MIT
"""In-tree PEP 517 build backend for the ocla Python package: stdlib only, so `pip install ./python`
needs no network and no setuptools. It writes a wheel of the pure-Python package `ocla/` (and, when
OCLA_BUNDLE_LIBRARY names a built libocla shared library at build time, a copy of it inside the
package, making the wheel platform-specific) and an sdist of this directory.

Hooks: build_wheel, build_sdist, build_editable, get_requires_for_build_{wheel,sdist,editable},
prepare_metadata_for_build_{wheel,editable}.
"""
import base64
import hashlib
import io
import os
import re
import sys
import sysconfig
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "ocla"


def _project():
    """name, version, summary, requires-python, dependencies from pyproject.toml ([project] table)."""
    text = open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8").read()
    try:
        import tomllib  # Python 3.11+
        proj = tomllib.loads(text)["project"]
    except ImportError:  # a small reader for the flat [project] table this file uses
        proj, section = {}, None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line.strip("[]").strip()
                continue
            m = re.match(r'([A-Za-z_-]+)\s*=\s*(.+)$', line)
            if section == "project" and m:
                key, val = m.group(1), m.group(2).strip()
                if val.startswith("["):
                    proj[key] = re.findall(r'"([^"]*)"', val)
                else:
                    proj[key] = val.strip('"')
    return proj


def _dist_name(proj):
    return re.sub(r"[-_.]+", "_", proj["name"]).lower()


def _metadata(proj):
    lines = ["Metadata-Version: 2.1", "Name: %s" % proj["name"], "Version: %s" % proj["version"]]
    if proj.get("description"):
        lines.append("Summary: %s" % proj["description"])
    if proj.get("requires-python"):
        lines.append("Requires-Python: %s" % proj["requires-python"])
    lic = proj.get("license")
    if isinstance(lic, dict) and lic.get("text"):
        lines.append("License: %s" % lic["text"])
    for dep in proj.get("dependencies", []):
        lines.append("Requires-Dist: %s" % dep)
    readme = os.path.join(HERE, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        body = open(readme, encoding="utf-8").read()
    return "\n".join(lines) + "\n\n" + body


def _bundled_library():
    path = os.environ.get("OCLA_BUNDLE_LIBRARY")
    if not path:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError("OCLA_BUNDLE_LIBRARY=%s: no such file" % path)
    return path


def _tag(bundled):
    if not bundled:
        return "py3-none-any"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "py3-none-%s" % plat


def _package_files():
    root = os.path.join(HERE, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(dirpath, f)
            yield full, os.path.relpath(full, HERE).replace(os.sep, "/")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _write_wheel(wheel_directory, files, bundled):
    """files: list of (arcname, bytes). Returns the wheel's file name."""
    proj = _project()
    dist = "%s-%s" % (_dist_name(proj), proj["version"])
    tag = _tag(bundled)
    name = "%s-%s.whl" % (dist, tag)
    info = dist + ".dist-info"
    files = list(files)
    files.append((info + "/METADATA", _metadata(proj).encode()))
    files.append((info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: ocla_build_backend\nRoot-Is-Purelib: %s\n"
                                    "Tag: %s\n" % ("false" if bundled else "true", tag)).encode()))
    files.append((info + "/top_level.txt", (PACKAGE + "\n").encode()))
    record = [_record_line(a, d) for a, d in files] + [info + "/RECORD,,"]
    files.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    os.makedirs(wheel_directory, exist_ok=True)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            zi = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = (0o755 if arc.endswith((".so", ".dylib", ".dll")) else 0o644) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return name


# ---- PEP 517 hooks -------------------------------------------------------------------------------
def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def _prepare_metadata(metadata_directory):
    proj = _project()
    info = "%s-%s.dist-info" % (_dist_name(proj), proj["version"])
    d = os.path.join(metadata_directory, info)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(proj))
    return info


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _prepare_metadata(metadata_directory)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return _prepare_metadata(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    bundled = _bundled_library()
    files = [(arc, open(full, "rb").read()) for full, arc in _package_files()]
    if bundled:
        ext = ".dll" if sys.platform == "win32" else ".dylib" if sys.platform == "darwin" else ".so"
        libname = ("ocla" if ext == ".dll" else "libocla") + ext
        files = [f for f in files if f[0] != PACKAGE + "/" + libname]
        files.append((PACKAGE + "/" + libname, open(bundled, "rb").read()))
    return _write_wheel(wheel_directory, files, bundled)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """An editable install: a .pth file that puts this directory on sys.path."""
    proj = _project()
    pth = (_dist_name(proj) + "_editable.pth", (HERE + "\n").encode())
    return _write_wheel(wheel_directory, [pth], None)


def build_sdist(sdist_directory, config_settings=None):
    proj = _project()
    base = "%s-%s" % (_dist_name(proj), proj["version"])
    name = base + ".tar.gz"
    os.makedirs(sdist_directory, exist_ok=True)
    keep = ["pyproject.toml", "ocla_build_backend.py", "README.md"]
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(rel):
            full = os.path.join(HERE, rel)
            if os.path.exists(full):
                tar.add(full, arcname=base + "/" + rel.replace(os.sep, "/"),
                        filter=lambda ti: None if "__pycache__" in ti.name or ti.name.endswith(".pyc") else ti)
        for rel in keep + [PACKAGE, "tests", "examples"]:
            add(rel)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata(proj).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
