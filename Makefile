# A thin wrapper over meson for the README's commands.
#   make demo        build, then run nvmmctl identify, calc-vm and the toy VMM
#   make check       build, then run the tests (plain and under ASan+UBSan)
#   make check-qemu  build QEMU with -accel nvmm, boot contrib/qemu/image
#   make bench       libnvmm against raw KVM, one table
#   make bench-qemu  QEMU's -accel nvmm against -accel kvm on the same guests
#   make install     PREFIX=/usr/local DESTDIR=
#   make deb         Debian packages (debian/) into build-deb/, lintian-checked
#   make deb-check   make deb, then install them in a fresh bookworm root and test
BUILD    ?= build
SANBUILD ?= build-san
DEBDIR   ?= build-deb
PREFIX   ?= /usr/local
DESTDIR  ?=

.PHONY: all deps demo check check-qemu bench bench-qemu install clean deb deb-check

all: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --prefix=$(PREFIX)
	ninja -C $(BUILD)

deps:
	@scripts/install-deps

demo: all
	examples/run-demo $(BUILD)

check: all
	scripts/check $(BUILD) $(SANBUILD)

install: all
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	meson install -C $(BUILD) --destdir "$(DESTDIR)"

clean:
	rm -rf $(BUILD) $(SANBUILD)

bench: all
	bench/run $(BUILD)

# The same guests under QEMU's -accel kvm and -accel nvmm (contrib/qemu/compare-kvm):
# builds QEMU like check-qemu; about 15 min here (GRUB is most of it). Not in check.
bench-qemu: all
	contrib/qemu/compare-kvm $(BUILD) $(if $(ROUNDS),--rounds $(ROUNDS))

# QEMU's NVMM accelerator on libnvmm: builds QEMU (contrib/qemu/build) and
# boots contrib/qemu/image under -accel nvmm and -accel kvm.
check-qemu: all
	contrib/qemu/check $(BUILD)

# Debian packages with dpkg-buildpackage (scripts/deb); QEMU's build in
# build-qemu is shared with check-qemu. deb-check: tests/deb/install-test.
deb:
	scripts/deb $(DEBDIR)

deb-check: all deb
	tests/deb/install-test $(DEBDIR) $(BUILD)
