# boundary: build, install, uninstall, Debian package.
#
#   make                      build the release binaries (as your user)
#   sudo make install         install them stripped, with man pages,
#                             completions, systemd units, example policies
#   sudo make uninstall       remove what install put there (config, keys,
#                             state and logs are kept)
#   make deb                  build target/boundary_<version>_amd64.deb
#
# `install` never runs cargo: build first as yourself, install as root.
# Honoured: PREFIX DESTDIR BINDIR MANDIR DOCDIR UNITDIR SYSCONFDIR and the
# completion directories below, plus CARGO, CARGO_TARGET_DIR (or TARGET_DIR)
# and DEBDIR (where `make deb` builds; default the target dir).

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/sbin
LIBEXECDIR  ?= $(PREFIX)/lib/boundary
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/boundary
EXAMPLESDIR ?= $(DOCDIR)/examples
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
# systemd reads /usr/local/lib/systemd/system and /usr/lib/systemd/system.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
STATEDIR    ?= /var/lib/boundary
LOGDIR      ?= /var/log/boundary

CARGO       ?= cargo
TARGET_DIR  ?= $(or $(CARGO_TARGET_DIR),target)
RELEASE     := $(TARGET_DIR)/release
STRIP       ?= strip
INSTALL     ?= install

TOOLS   := bd-load bd-watch bd-policy bd-log bd-inject bd-lock
UNITS   := boundary-load.service boundary.service boundary-verify.service \
           boundary-verify.timer boundary-alert@.service
HELPERS := boot-load pipeline verify
DOCS    := README.md SECURITY.md docs/ARCHITECTURE.md docs/EVENTS.md docs/MODES.md \
           $(wildcard docs/LOG.md)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DEBDIR  ?= $(TARGET_DIR)
DEBROOT := $(DEBDIR)/deb-root
DEB     := $(DEBDIR)/boundary_$(VERSION)_amd64.deb

# Paths substituted into the units and helper scripts.
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
            -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@STATEDIR@|$(STATEDIR)|g' \
            -e 's|@LOGDIR@|$(LOGDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g'

.PHONY: all build install uninstall deb check-built clean-deb

all: build

build:
	# bd-inject is linked static with no libc by its build.rs (it starts in
	# front of every program it runs; bench/inject/host.sh): no extra step.
	$(CARGO) build --release --bins

# Fails with one clear line instead of compiling as root.
check-built:
	@for t in $(TOOLS); do \
	    if [ ! -x "$(RELEASE)/$$t" ]; then \
	        echo "make install: $(RELEASE)/$$t missing: run 'make' (as your user) first" >&2; exit 2; \
	    fi; \
	done

install: check-built
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(EXAMPLESDIR)/policies \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/boundary \
	    $(DESTDIR)$(SYSCONFDIR)/boundary/operators.d $(DESTDIR)$(SYSCONFDIR)/default
	$(INSTALL) -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/boundary/keys
	@# Binaries only (never the *.d dep-info files beside them), stripped.
	for t in $(TOOLS); do \
	    $(INSTALL) -m 0755 $(RELEASE)/$$t $(DESTDIR)$(BINDIR)/$$t && \
	    $(STRIP) --strip-unneeded $(DESTDIR)$(BINDIR)/$$t || exit 1; \
	done
	for h in $(HELPERS); do \
	    $(SUBST) dist/lib/$$h > $(DESTDIR)$(LIBEXECDIR)/$$h && \
	    chmod 0755 $(DESTDIR)$(LIBEXECDIR)/$$h || exit 1; \
	done
	$(INSTALL) -m 0644 man/bd-*.1 $(DESTDIR)$(MANDIR)/man1/
	for t in $(TOOLS); do \
	    $(INSTALL) -m 0644 completions/bash/$$t $(DESTDIR)$(BASHCOMPDIR)/$$t && \
	    $(INSTALL) -m 0644 completions/zsh/_$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t && \
	    $(INSTALL) -m 0644 completions/fish/$$t.fish $(DESTDIR)$(FISHCOMPDIR)/$$t.fish || exit 1; \
	done
	for u in $(UNITS); do \
	    $(SUBST) systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 examples/policies/*.toml $(DESTDIR)$(EXAMPLESDIR)/policies/
	@# Configuration: written only when absent, so a reinstall keeps the
	@# operator's edits (the package marks the same files as conffiles).
	for f in boundary/policy.toml boundary/exec-allow.list boundary/operators.d/README default/boundary; do \
	    if [ ! -e $(DESTDIR)$(SYSCONFDIR)/$$f ]; then \
	        $(SUBST) dist/etc/$$f > $(DESTDIR)$(SYSCONFDIR)/$$f && chmod 0644 $(DESTDIR)$(SYSCONFDIR)/$$f || exit 1; \
	    fi; \
	done
	@# Rotation: the snippet bd-log ships (postrotate: bd-log rotate / SIGHUP).
	if [ -f dist/logrotate/boundary ]; then \
	    $(INSTALL) -d -m 0755 $(DESTDIR)$(LOGROTATEDIR) || exit 1; \
	    if [ ! -e $(DESTDIR)$(LOGROTATEDIR)/boundary ]; then \
	        $(SUBST) dist/logrotate/boundary > $(DESTDIR)$(LOGROTATEDIR)/boundary || exit 1; \
	    fi; \
	fi
	@# Keys and state stay root-only; never touched if present.
	$(INSTALL) -d -m 0700 $(DESTDIR)$(STATEDIR)
	$(INSTALL) -d -m 0750 $(DESTDIR)$(LOGDIR)

uninstall:
	for t in $(TOOLS); do \
	    rm -f $(DESTDIR)$(BINDIR)/$$t $(DESTDIR)$(MANDIR)/man1/$$t.1 \
	        $(DESTDIR)$(BASHCOMPDIR)/$$t $(DESTDIR)$(ZSHCOMPDIR)/_$$t \
	        $(DESTDIR)$(FISHCOMPDIR)/$$t.fish; \
	done
	for h in $(HELPERS); do rm -f $(DESTDIR)$(LIBEXECDIR)/$$h; done
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null
	@echo "make uninstall: kept $(SYSCONFDIR)/boundary (config, keys), $(STATEDIR) and $(LOGDIR)"

# The Debian package: the same tree `make install` builds for /usr, plus the
# maintainer scripts in debian/. dpkg-deb only, so no debhelper is needed.
deb: check-built
	rm -rf $(DEBROOT)
	$(MAKE) install DESTDIR=$(abspath $(DEBROOT)) PREFIX=/usr BINDIR=/usr/sbin \
	    UNITDIR=/usr/lib/systemd/system
	@# Package-owned config comes from the package, not from a previous tree.
	rm -rf $(DEBROOT)/var
	$(INSTALL) -d -m 0755 $(DEBROOT)/DEBIAN
	sed -e 's|@VERSION@|$(VERSION)|g' \
	    -e "s|@SIZE@|$$(du -sk --exclude=DEBIAN $(DEBROOT) | cut -f1)|g" \
	    debian/control > $(DEBROOT)/DEBIAN/control
	for s in postinst prerm postrm; do \
	    $(INSTALL) -m 0755 debian/$$s $(DEBROOT)/DEBIAN/$$s || exit 1; \
	done
	(cd $(DEBROOT) && find etc -type f | sort | sed 's|^|/|') > $(DEBROOT)/DEBIAN/conffiles
	$(INSTALL) -m 0644 debian/copyright $(DEBROOT)/usr/share/doc/boundary/copyright
	gzip -9n -c debian/changelog > $(DEBROOT)/usr/share/doc/boundary/changelog.gz
	gzip -9n $(DEBROOT)/usr/share/man/man1/*.1
	$(INSTALL) -d -m 0755 $(DEBROOT)/usr/share/lintian/overrides
	$(INSTALL) -m 0644 debian/lintian-overrides $(DEBROOT)/usr/share/lintian/overrides/boundary
	(cd $(DEBROOT) && find usr -type f | sort | xargs md5sum) > $(DEBROOT)/DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build $(DEBROOT) $(DEB)
	@echo "built $(DEB)"

clean-deb:
	rm -rf $(DEBROOT) $(DEB)
