/*
 * cross-syscall-fallback: run a command with statx(2) and faccessat2(2) failing with
 * ENOSYS, for tools/cross-test.sh.
 *
 *   cross-syscall-fallback proot -q qemu-arm-static -r ROOTFS ...
 *
 * proot 5.3 (bookworm) does not translate the paths of these two newer calls, so under it
 * they name the host's files instead of the emulated root filesystem's. statx: `ls`, and
 * on armhf (whose glibc implements every stat with statx for 64-bit time) every stat, sees
 * the wrong file or none. faccessat2: QEMU's static glibc tries it first for every
 * emulated access(), so aarch64's gcc cannot find its own cc1. Refused with ENOSYS, both
 * fall back (in glibc and QEMU) to fstatat and faccessat, which proot translates. The
 * seccomp filter is inherited by proot, QEMU and every emulated process.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_statx, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_faccessat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("cross-syscall-fallback");
        return 2;
    }
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
