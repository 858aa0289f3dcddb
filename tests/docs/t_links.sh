#!/bin/bash
# The documents a clone ships (README, man pages, docs/, fuzz/README.md)
# point only at files inside the repository, and those files exist:
# a reader of a fresh clone must be able to follow every reference.
#
#   t_links.sh <source root>
#
# Checked: no reference climbs out of the tree (../); Markdown link
# targets; paths written as `code` that name a file of the tree (under a
# top-level folder of the repository, or a file name with an extension
# that some file of the tree ends with). Paths of the running system
# (/dev/kvm, /run/nvmm, what a man page's .Pa names once installed), of the
# build tree, and placeholders (fuzz/corpus/TARGET) are left alone.
set -u
root=$1
cd "$root" || exit 1
export LC_ALL=C

docs=(README.md docs/*.md fuzz/README.md man/*.3 man/*.8)
tops=" $(ls -A | tr '\n' ' ') "
files=$(find . -path ./.git -prune -o -type f -print | sed 's|^\./||')

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

# Whether a reference resolves to a file or folder of the tree.
resolves() {
	local ref=${1%%#*} dir=$2
	ref=${ref%/}
	[ -n "$ref" ] || return 0
	[ -e "$dir/$ref" ] && return 0
	[ -e "$ref" ] && return 0
	# A path named from inside its own layer (x86-kvm/state.c).
	grep -qE "(^|/)${ref//./\\.}\$" <<<"$files"
}

for doc in "${docs[@]}"; do
	[ -f "$doc" ] || continue
	dir=$(dirname "$doc")
	bad=()
	# Nothing outside the repository, however it is written.
	while IFS= read -r ref; do
		bad+=("$ref (outside the repository)")
	done < <(grep -oE '(\.\./)+[A-Za-z0-9_./-]+' "$doc" | sort -u)
	# Markdown links: [text](target), targets that are not URLs.
	while IFS= read -r ref; do
		case "$ref" in *://*|mailto:*|'#'*) continue ;; esac
		resolves "$ref" "$dir" || bad+=("$ref (link target missing)")
	done < <(grep -oE '\]\([^)]+\)' "$doc" | sed -E 's/^\]\(//; s/\)$//' | sort -u)
	# `code` and man-page .Pa paths that name a file of the tree.
	while IFS= read -r ref; do
		case "$ref" in /*|*'*'*|*'$'*|build*|*'<'*) continue ;; esac
		first=${ref%%/*}
		if [[ $ref == */* && $tops == *" $first "* ]] ||
		    [[ $ref =~ \.(c|h|S|md|sh|3|8|conf|patch|map|build)$ ]]; then
			resolves "$ref" "$dir" || bad+=("$ref (no such file)")
		fi
	done < <(grep -oE '`[A-Za-z0-9_./-]+`' "$doc" | tr -d '`' |
		 grep -vE '(^|/)[A-Z]+(/|$)' | sort -u)
	if [ ${#bad[@]} -eq 0 ]; then
		ok "$doc: every reference is a file of the repository"
	else
		nok "$doc: references that a clone cannot follow"
		printf '# %s\n' "${bad[@]}"
	fi
done
echo "1..$n"
exit $failed
