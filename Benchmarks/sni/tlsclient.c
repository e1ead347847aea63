// New TLS connections per second with a given SNI: each thread connects, handshakes (TLS 1.3,
// no session resumption, so every connection is a full handshake), sends one HTTP/1.1 request
// with Connection: close, reads the response to EOF and closes. Loopback only.
//   tlsclient PORT SERVERNAME THREADS SECONDS  -> prints "connections N errors E per_second R"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *server_name;
static double seconds;
static SSL_CTX *context;
static atomic_long done_count, error_count;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int one_connection(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = -1;
    SSL *ssl = NULL;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) goto out;
    ssl = SSL_new(context);
    SSL_set_fd(ssl, fd);
    if (server_name[0]) SSL_set_tlsext_host_name(ssl, server_name);
    if (SSL_connect(ssl) != 1) goto out;
    char request[256];
    int length = snprintf(request, sizeof request, "GET /whoami HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                          server_name[0] ? server_name : "none");
    if (SSL_write(ssl, request, length) != length) goto out;
    char buffer[4096];
    long total = 0;
    int count;
    while ((count = SSL_read(ssl, buffer, sizeof buffer)) > 0) total += count;
    ok = total > 12 && memcmp(buffer, "HTTP/1.1 200", 12) == 0 ? 0 : (total > 0 ? 0 : -1);
out:
    if (ssl) SSL_free(ssl);
    close(fd);
    ERR_clear_error();
    return ok;
}

static void *run(void *unused) {
    (void)unused;
    double end = now() + seconds;
    while (now() < end) {
        if (one_connection() == 0) atomic_fetch_add(&done_count, 1);
        else atomic_fetch_add(&error_count, 1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: tlsclient PORT SERVERNAME THREADS SECONDS\n");
        return 64;
    }
    port = atoi(argv[1]);
    server_name = argv[2];
    int threads = atoi(argv[3]);
    seconds = atof(argv[4]);
    context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(context, SSL_OP_NO_TICKET);
    pthread_t ids[256];
    double start = now();
    for (int i = 0; i < threads && i < 256; i++) pthread_create(&ids[i], NULL, run, NULL);
    for (int i = 0; i < threads && i < 256; i++) pthread_join(ids[i], NULL);
    double elapsed = now() - start;
    printf("connections %ld errors %ld per_second %.1f\n", atomic_load(&done_count), atomic_load(&error_count),
           atomic_load(&done_count) / elapsed);
    return 0;
}
