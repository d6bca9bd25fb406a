# Sourced by the scripts that build (test, demo, dev, bench, fuzz). When git resolves
# github.com from a local package mirror (`url.<mirror>.insteadOf`) that another user owns,
# as on machines where root installed the mirror, git refuses to read it ("detected dubious
# ownership") and SwiftPM cannot resolve a single package as a plain user. This marks exactly
# the mirror's repositories safe for this script's git commands: a temporary global git
# configuration (GIT_CONFIG_GLOBAL, one file per user in TMPDIR) that includes the user's own
# and adds them, so no file of the user's changes. (SwiftPM keeps GIT_CONFIG_GLOBAL for git, not GIT_CONFIG_COUNT.)
# Nothing happens as the mirror's owner, or without a mirror.
trust_package_mirror() {
  local mirror
  mirror=$(git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | awk '$2 == "https://github.com/" {print $1; exit}' \
    | sed -e 's/^url\.//' -e 's/\.insteadof$//' || true)
  [ -n "$mirror" ] && [ -d "$mirror" ] || return 0
  [ "$(stat -c %u "$mirror")" = "$(id -u)" ] && return 0
  # One file per user, rewritten whole each time (written aside, then renamed into place).
  local config="${TMPDIR:-/tmp}/tributary-gitconfig-$(id -u)" repository partial
  partial=$(mktemp "$config.XXXXXX")
  {
    if [ -f "${GIT_CONFIG_GLOBAL:-$HOME/.gitconfig}" ]; then printf '[include]\n\tpath = %s\n' "${GIT_CONFIG_GLOBAL:-$HOME/.gitconfig}"; fi
    printf '[safe]\n'
    for repository in "$mirror"*/*; do
      if [ -d "$repository" ]; then printf '\tdirectory = %s\n' "${repository%/}"; fi
    done
  } > "$partial"
  mv -f "$partial" "$config"
  export GIT_CONFIG_GLOBAL=$config
}
trust_package_mirror
