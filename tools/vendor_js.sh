#!/usr/bin/env bash
# Vendor the web's browser JavaScript (the dashboard's, and Swagger UI for /docs) into web/static/vendor/, so nothing loads from a
# CDN at run time. Versions are pinned below; the sha256 of every vendored file is pinned in
# web/static/vendor/VERSIONS.txt, which this script writes.
#
#   tools/vendor_js.sh          fetch the pinned versions with `npm pack` (npm checks each
#                               tarball against the registry's integrity hash), refuse any file
#                               whose package version is unchanged but whose bytes differ from
#                               VERSIONS.txt, then install the files and rewrite VERSIONS.txt
#   tools/vendor_js.sh --check  no network: the files on disk are exactly those VERSIONS.txt
#                               lists, with those sha256s, at the versions pinned here
#
# Update: change a version below, run the script, review `git diff web/static/vendor`.
set -euo pipefail
cd "$(dirname "$0")/.."

# htmx: the 2.x line (4.x is a rewrite with other attributes and events).
HTMX_VERSION=2.0.11
LIGHTWEIGHT_CHARTS_VERSION=5.3.0
# Swagger UI for the API's /docs page (FastAPI would load it from a CDN).
SWAGGER_UI_VERSION=5.36.0

DEST=web/static/vendor
VERSIONS=$DEST/VERSIONS.txt

# One line per vendored file: package, version, path in the npm tarball, name in $DEST.
# A path ending in "?" is optional: copied when the tarball has it (lightweight-charts' Apache
# NOTICE is not in its npm package as of 5.3.0; should it appear, it ships with the code).
FILES=(
    "htmx.org $HTMX_VERSION package/dist/htmx.min.js htmx.min.js"
    "htmx.org $HTMX_VERSION package/LICENSE htmx.org.LICENSE"
    "lightweight-charts $LIGHTWEIGHT_CHARTS_VERSION package/dist/lightweight-charts.standalone.production.js lightweight-charts.standalone.production.js"
    "lightweight-charts $LIGHTWEIGHT_CHARTS_VERSION package/LICENSE lightweight-charts.LICENSE"
    "lightweight-charts $LIGHTWEIGHT_CHARTS_VERSION package/NOTICE? lightweight-charts.NOTICE"
    "swagger-ui-dist $SWAGGER_UI_VERSION package/swagger-ui-bundle.js swagger-ui-bundle.js"
    "swagger-ui-dist $SWAGGER_UI_VERSION package/swagger-ui.css swagger-ui.css"
    "swagger-ui-dist $SWAGGER_UI_VERSION package/LICENSE swagger-ui-dist.LICENSE"
)

die() {
    echo "vendor_js: $*" >&2
    exit 1
}

sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

pinned_version() { # the version this script pins for a package
    local entry package version _rest
    for entry in "${FILES[@]}"; do
        read -r package version _rest <<<"$entry"
        [ "$package" = "$1" ] && { echo "$version"; return; }
    done
}

recorded_sha() { # name package version -> the sha256 VERSIONS.txt records for them, if any
    [ -f "$VERSIONS" ] || return 0
    awk -v n="$1" -v p="$2" -v v="$3" '!/^#/ && $1 == n && $2 == p && $3 == v { print $4 }' \
        "$VERSIONS"
}

check() {
    [ -f "$VERSIONS" ] || die "$VERSIONS is missing: run tools/vendor_js.sh"
    local name package version sum listed=() problems=0
    while read -r name package version sum; do
        case "$name" in '#'* | '') continue ;; esac
        listed+=("$name")
        if [ "$(pinned_version "$package")" != "$version" ]; then
            echo "vendor_js: $name is $package $version, the script pins" \
                "$(pinned_version "$package"): run tools/vendor_js.sh" >&2
            problems=1
        elif ! [ -f "$DEST/$name" ]; then
            echo "vendor_js: $DEST/$name is missing" >&2
            problems=1
        elif [ "$(sha256 "$DEST/$name")" != "$sum" ]; then
            echo "vendor_js: $DEST/$name does not hash to its recorded $sum" >&2
            problems=1
        fi
    done <"$VERSIONS"
    local file
    for file in "$DEST"/*; do
        name=$(basename "$file")
        [ "$name" = VERSIONS.txt ] && continue
        [[ " ${listed[*]} " == *" $name "* ]] || {
            echo "vendor_js: $DEST/$name is not listed in VERSIONS.txt" >&2
            problems=1
        }
    done
    [ "$problems" = 0 ] || exit 1
    echo "vendor_js: $DEST matches VERSIONS.txt"
}

fetch() {
    command -v npm >/dev/null || die "npm is needed to fetch packages"
    tmp=$(mktemp -d) # global: the EXIT trap runs after this function has returned
    trap 'rm -rf "$tmp"' EXIT

    local entry package version src name specs=()
    for entry in "${FILES[@]}"; do
        read -r package version _ _ <<<"$entry"
        [[ " ${specs[*]-} " == *" $package@$version "* ]] || specs+=("$package@$version")
    done
    (cd "$tmp" && npm pack --silent "${specs[@]}" >/dev/null)
    local spec
    for spec in "${specs[@]}"; do
        package=${spec%@*}
        version=${spec##*@}
        mkdir -p "$tmp/$package"
        tar -xzf "$tmp/$package-$version.tgz" -C "$tmp/$package"
    done

    # Stage everything first: a refused file leaves $DEST as it was.
    mkdir "$tmp/out"
    local lines=() sum recorded problems=0 optional
    for entry in "${FILES[@]}"; do
        read -r package version src name <<<"$entry"
        optional=no
        [[ "$src" == *'?' ]] && { optional=yes; src=${src%'?'}; }
        if ! [ -f "$tmp/$package/$src" ]; then
            [ "$optional" = yes ] && continue
            die "$package $version has no $src"
        fi
        cp "$tmp/$package/$src" "$tmp/out/$name"
        sum=$(sha256 "$tmp/out/$name")
        recorded=$(recorded_sha "$name" "$package" "$version")
        if [ -n "$recorded" ] && [ "$recorded" != "$sum" ]; then
            echo "vendor_js: $package $version $src hashes to $sum," \
                "VERSIONS.txt records $recorded" >&2
            problems=1
        fi
        lines+=("$name $package $version $sum")
    done
    [ "$problems" = 0 ] || die "refusing to install: same version, different bytes"

    mkdir -p "$DEST"
    find "$DEST" -maxdepth 1 -type f -delete
    cp "$tmp"/out/* "$DEST"/
    {
        echo "# Vendored browser JavaScript, written by tools/vendor_js.sh (do not edit by hand)."
        echo "# file package version sha256"
        printf '%s\n' "${lines[@]}"
    } >"$VERSIONS"
    check
}

case "${1-}" in
--check) check ;;
'') fetch ;;
*) die "usage: tools/vendor_js.sh [--check]" ;;
esac
