#!/bin/sh
# scripts/check-layers.sh [LIBDIR] - check that lib/ includes only downward.
#
# lib/ is in folders by pipeline stage (lib/README.md).  Each folder has a
# level; a source file may include headers of its own folder and of folders
# at a LOWER level, never of the same level or above:
#
#   0 core   1 io   2 nn diffusion data   3 models   4 train eval
#
# (nn/simd belongs to nn.)  A header cycle (a.h includes b.h includes a.h)
# is refused too: tsort finds it.  Prints one line per violation and exits 1
# if there is any; `make check-layers` runs it and `make test` runs that.
set -u
LIB=${1:-lib}
LEVELS="core:0 io:1 nn:2 diffusion:2 data:2 models:3 train:4 eval:4"

level() {
	for kv in $LEVELS; do
		[ "${kv%%:*}" = "$1" ] && { echo "${kv#*:}"; return; }
	done
	echo -1
}

bad=0
edges=$(mktemp) || exit 1
trap 'rm -f "$edges"' EXIT
for f in $(cd "$LIB" && find . -name '*.[ch]' | sed 's#^\./##' | sort); do
	dir=${f%%/*}
	if [ "$dir" = "$f" ]; then
		echo "check-layers: $LIB/$f: a source outside every stage folder"
		bad=1
		continue
	fi
	mine=$(level "$dir")
	if [ "$mine" -lt 0 ]; then
		echo "check-layers: $LIB/$f: folder $dir/ has no level (add it to $0)"
		bad=1
		continue
	fi
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$LIB/$f"); do
		case $inc in
		*/*) ;;
		*) echo "check-layers: $LIB/$f: includes \"$inc\" (include by path under lib/)"; bad=1; continue ;;
		esac
		if [ ! -f "$LIB/$inc" ]; then
			echo "check-layers: $LIB/$f: includes \"$inc\", which is not under $LIB/"
			bad=1
			continue
		fi
		top=${inc%%/*}
		case $f in *.h) echo "$f $inc" >>"$edges" ;; esac
		[ "$top" = "$dir" ] && continue
		theirs=$(level "$top")
		if [ "$theirs" -ge "$mine" ]; then
			echo "check-layers: $LIB/$f: includes \"$inc\": $dir/ (level $mine) may include only folders below it, and $top/ is level $theirs"
			bad=1
		fi
	done
done
if [ -s "$edges" ] && ! tsort "$edges" >/dev/null 2>&1; then
	echo "check-layers: a cycle of header includes:"
	tsort "$edges" 2>&1 >/dev/null | sed 's/^/check-layers:   /'
	bad=1
fi
[ "$bad" = 0 ] && echo "check-layers: $LIB/ includes only downward"
exit $bad
