#ifndef C_BASCULE_TEST_SUPPORT_H
#define C_BASCULE_TEST_SUPPORT_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (NULL-terminated) in `directory` (NULL: the caller's)
/// and a new process group, stdin on
/// /dev/null, stdout and stderr on the given descriptors, signal mask and ignored signals reset.
/// The child asks the kernel (PR_SET_PDEATHSIG) to send it `death_signal` when its parent dies,
/// so a test runner that crashes or is killed cannot leave it running: SIGKILL for most, SIGTERM
/// for a child whose own cleanup must run (one that tears down namespaces it made). Returns 0
/// and the pid, or an errno (that of execve when the program could not be started).
///
/// PDEATHSIG fires when the *thread* that forked exits, not the process: every spawn is made on
/// one thread that lives as long as the process, never on the caller's (a pool thread may end).
int bts_spawn_guarded(const char *path, char *const argv[], char *const envp[], const char *directory,
                      int stdout_fd, int stderr_fd, int death_signal, pid_t *pid);

/// For the guard's own test: forks an intermediate process that starts `path` (with the guard's
/// `death_signal`, none when 0), writes the child's pid (a pid_t) to `report_fd`, then waits to
/// be killed. Returns 0 and the intermediate's pid, or an errno.
int bts_spawn_through_intermediate(const char *path, char *const argv[], char *const envp[],
                                   int death_signal, int report_fd, pid_t *intermediate);

#endif
