#define _GNU_SOURCE
#include "CBasculeTestSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *directory;
    int stdout_fd, stderr_fd, death_signal;
    pid_t pid;
    int error;
    int done;
};

/// Runs in the forked child: only async-signal-safe calls until execve.
static void become_child(const struct spawn_request *request, pid_t parent, int error_pipe) {
    struct sigaction defaults;
    memset(&defaults, 0, sizeof defaults);
    defaults.sa_handler = SIG_DFL;
    // Ignored signals survive execve; the runner may ignore SIGPIPE and the child must not.
    for (int signo = 1; signo < NSIG; signo++) {
        if (signo != SIGKILL && signo != SIGSTOP) sigaction(signo, &defaults, NULL);
    }
    setpgid(0, 0);
    if (request->death_signal != 0) {
        prctl(PR_SET_PDEATHSIG, request->death_signal);
        // The parent may have died before prctl took effect: then nothing would ever signal us.
        if (getppid() != parent) _exit(127);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0 && devnull != 0) { dup2(devnull, 0); close(devnull); }
    dup2(request->stdout_fd, 1);
    dup2(request->stderr_fd, 2);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    if (request->directory != NULL && chdir(request->directory) != 0) {
        int error = errno;
        (void)!write(error_pipe, &error, sizeof error);
        _exit(127);
    }
    execve(request->path, request->argv, request->envp);
    int error = errno;
    (void)!write(error_pipe, &error, sizeof error);
    _exit(127);
}

/// fork + exec, with execve's errno reported back through a close-on-exec pipe.
static int spawn_now(struct spawn_request *request) {
    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) != 0) return errno;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        close(error_pipe[0]);
        close(error_pipe[1]);
        return error;
    }
    if (child == 0) become_child(request, parent, error_pipe[1]);
    close(error_pipe[1]);
    int exec_error = 0;
    ssize_t count;
    do { count = read(error_pipe[0], &exec_error, sizeof exec_error); } while (count < 0 && errno == EINTR);
    close(error_pipe[0]);
    if (count == (ssize_t)sizeof exec_error) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return exec_error;
    }
    request->pid = child;
    return 0;
}

// One request at a time is handed to the spawner thread through `slot`.
static pthread_mutex_t callers = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct spawn_request *slot;
static pthread_once_t started = PTHREAD_ONCE_INIT;
static int start_error;

static void *spawner_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (slot == NULL || slot->done) pthread_cond_wait(&changed, &lock);
        struct spawn_request *request = slot;
        pthread_mutex_unlock(&lock);
        request->error = spawn_now(request);
        pthread_mutex_lock(&lock);
        request->done = 1;
        pthread_cond_broadcast(&changed);
    }
    return NULL;
}

static void start_spawner(void) {
    // Signals are handled on other threads; this one only forks.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    pthread_t thread;
    start_error = pthread_create(&thread, &attributes, spawner_main, NULL);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}

int bts_spawn_guarded(const char *path, char *const argv[], char *const envp[], const char *directory,
                      int stdout_fd, int stderr_fd, int death_signal, pid_t *pid) {
    pthread_once(&started, start_spawner);
    if (start_error != 0) return start_error;
    struct spawn_request request = {
        .path = path, .argv = argv, .envp = envp, .directory = directory,
        .stdout_fd = stdout_fd, .stderr_fd = stderr_fd, .death_signal = death_signal,
    };
    pthread_mutex_lock(&callers);
    pthread_mutex_lock(&lock);
    slot = &request;
    pthread_cond_broadcast(&changed);
    while (!request.done) pthread_cond_wait(&changed, &lock);
    slot = NULL;
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&callers);
    if (request.error == 0) *pid = request.pid;
    return request.error;
}

int bts_spawn_through_intermediate(const char *path, char *const argv[], char *const envp[],
                                   int death_signal, int report_fd, pid_t *intermediate) {
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) return errno;
    if (child > 0) {
        *intermediate = child;
        return 0;
    }
    // The intermediate: single-threaded, so it may spawn directly. It must not hold the runner's
    // other descriptors (other tests' pipes would never reach EOF while it lives).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (report_fd != 3) { dup2(report_fd, 3); }
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull != 4) { dup2(devnull, 4); }
    close_range(5, ~0U, 0);
    struct spawn_request request = {
        .path = path, .argv = argv, .envp = envp, .stdout_fd = 4, .stderr_fd = 4, .death_signal = death_signal,
    };
    pid_t reported = spawn_now(&request) == 0 ? request.pid : -1;
    (void)!write(3, &reported, sizeof reported);
    for (;;) pause();
}
