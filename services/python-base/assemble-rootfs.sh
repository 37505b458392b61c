#!/bin/sh
# Assemble in ROOTFS only what a Python service needs at run time: the interpreter, its standard
# library (without tests, GUI and build tools), the shared libraries they load, /bin/sh for the
# entrypoint script, and passwd/group files with an unprivileged "app" user (uid 10001). No apt,
# no package database, no coreutils: the smallest root that is still made of Debian packages.
set -eu
root="$1"

# Debian bookworm is merged-/usr: /bin, /lib and /lib64 are links into /usr. Mirror that, then
# copy every file by its canonical path and recreate the names that pointed at it.
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/etc" "$root/tmp"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"

install_path() {  # install_path PATH: copy PATH's target file and keep PATH's name for it
  real="$(readlink -f "$1")"
  name="$(readlink -f "$(dirname "$1")")/$(basename "$1")"
  mkdir -p "$root$(dirname "$real")"
  [ -e "$root$real" ] || cp -p "$real" "$root$real"
  if [ "$name" != "$real" ] && [ ! -e "$root$name" ]; then
    mkdir -p "$root$(dirname "$name")"
    ln -s "$real" "$root$name"
  fi
}
libraries_of() {  # every shared object (and the loader) a binary or extension module loads
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

cp -a /usr/lib/python3.11 "$root/usr/lib/python3.11"
(
  cd "$root/usr/lib/python3.11"
  # Tests, GUI, terminal-UI and packaging tools: never used by a service.
  rm -rf test idlelib tkinter turtledemo ensurepip lib2to3 pydoc_data curses \
         config-3.11-x86_64-linux-gnu unittest/test sqlite3/test ctypes/test \
         lib-dynload/_curses*.so lib-dynload/readline*.so lib-dynload/_tkinter*.so
  find . -name '__pycache__' -prune -exec rm -rf {} +
)
install_path /usr/bin/python3.11
ln -s python3.11 "$root/usr/bin/python3"
install_path /usr/bin/dash
ln -s dash "$root/usr/bin/sh"

# Wheels' C extensions may load any glibc library (libpthread, libm, librt, ...) or the GCC
# runtime library, so all of those come along, not only what the interpreter itself loads.
dpkg -L libc6 libgcc-s1 | grep -E '/lib/x86_64-linux-gnu/[^/]+\.so[.0-9]*$' \
  | while read -r library; do install_path "$library"; done

{
  libraries_of /usr/bin/python3.11
  libraries_of /usr/bin/dash
  for module in "$root"/usr/lib/python3.11/lib-dynload/*.so; do libraries_of "$module"; done
} | sort -u | while read -r library; do install_path "$library"; done

# Byte-compile once, with hash-based pycs, so the read-only root never needs to write them and
# the files do not depend on build time.
/usr/bin/python3.11 -m compileall -q -j 0 --invalidation-mode unchecked-hash \
  -s "$root" -p / "$root/usr/lib/python3.11" >/dev/null

printf 'root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:10001:10001:app:/nonexistent:/usr/sbin/nologin\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\napp:x:10001:\n' > "$root/etc/group"
cp -p /etc/nsswitch.conf "$root/etc/nsswitch.conf"

# Used by the service images at build time: every extension module must load here.
mkdir -p "$root/usr/lib/nbship"
cp /usr/local/lib/nbship/check-libraries.py "$root/usr/lib/nbship/check-libraries.py"

# Record which Debian packages the copied files come from, since the root keeps no package
# database: nbship's SBOM reads this list.
mkdir -p "$root/usr/share/nbship"
{
  echo python3.11-minimal libpython3.11-minimal libpython3.11-stdlib dash
  find "$root" -type f ! -path "$root/usr/lib/python3.11/*" ! -path "$root/etc/*" \
    ! -path "$root/usr/share/nbship/*" -exec basename {} \; | sort -u | while read -r file; do
      dpkg -S "*/$file" 2>/dev/null | head -n 1 | cut -d: -f1
    done
} | tr ' ' '\n' | sort -u | xargs dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' \
  > "$root/usr/share/nbship/debian-packages.tsv"
