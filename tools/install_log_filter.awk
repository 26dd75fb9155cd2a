# Filters the output of the pip commands in tools/install.sh (stdin -> stdout), keeping
# everything except what is expected yet reads as a failure to a newcomer:
# - pip's notes on entries of a local index that do not exist;
# - the build tools' deprecation warnings (setuptools' "!! *** ... *** !!" blocks and
#   pkg_resources notices), which are about mmcv's and the toolboxes' packaging;
# - pip's resolver complaint that openmim's opendatalab is missing, which tools/install.sh
#   leaves out on purpose, and that mmcv's mmengine is missing while step 3 installs mmcv
#   (step 4 installs mmengine): one line says so instead. Any other conflict is printed.
BEGIN { state = "normal" }

state == "warning" {            # the line after a build-tool warning's first line
    if ($0 == "!!") { state = "block"; next }
    state = "normal"
    if ($0 ~ /^  +[^ ]/) next   # the source line Python prints under a warning
}
state == "block" {              # inside setuptools' "!!" ... "!!" text
    if ($0 == "!!") state = "source"
    next
}
state == "source" {
    state = "normal"
    if ($0 ~ /^  +[^ ]/) next
}
state == "resolver" {
    if ($0 ~ /^openmim [^ ]+ requires opendatalab/) {
        print "(pip notes that openmim's dependency opendatalab is not installed: left out" \
              " on purpose, it downgrades setuptools; mim train/test do not need it)"
        next
    }
    if ($0 ~ /^mmcv [^ ]+ requires mmengine/) {
        print "(pip notes that mmcv needs mmengine: expected here, step 4 installs it)"
        next
    }
    if ($0 ~ /^[A-Za-z0-9_.-]+ [^ ]+ (requires|has requirement) /) {
        if (!header_shown) { print resolver_header; header_shown = 1 }
        print
        next
    }
    state = "normal"
}

/is ignored: it is neither a file nor a directory/ { next }
/(Setuptools|PkgResources|EasyInstall)[A-Za-z]*Warning:|pkg_resources is deprecated as an API/ {
    state = "warning"
    next
}
/^ERROR: pip's dependency resolver does not currently take into account/ {
    state = "resolver"; resolver_header = $0; header_shown = 0
    next
}
{ print }
