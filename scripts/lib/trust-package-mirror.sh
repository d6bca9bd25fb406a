# Sourced by the scripts that build (test, demo, dev, bench, fuzz). When git resolves
# github.com from a local package mirror (`url.<mirror>.insteadOf`) that another user owns,
# as on machines whose mirror root installed, git refuses to read it ("detected dubious
# ownership") and SwiftPM cannot resolve a single package as a plain user. This marks exactly
# the mirror's repositories safe for the git commands of this script, through git's
# environment configuration (GIT_CONFIG_COUNT), changing no file. Nothing happens as the
# mirror's owner, or without a mirror.
trust_package_mirror() {
  local mirror
  mirror=$(git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | awk '$2 == "https://github.com/" {print $1; exit}' \
    | sed -e 's/^url\.//' -e 's/\.insteadof$//')
  [ -n "$mirror" ] && [ -d "$mirror" ] || return 0
  [ "$(stat -c %u "$mirror")" = "$(id -u)" ] && return 0
  local count=${GIT_CONFIG_COUNT:-0} repository
  for repository in "$mirror"*/*; do
    [ -d "$repository" ] || continue
    export "GIT_CONFIG_KEY_$count=safe.directory" "GIT_CONFIG_VALUE_$count=${repository%/}"
    count=$((count + 1))
  done
  export GIT_CONFIG_COUNT=$count
}
trust_package_mirror
