/* sock_echo: a line-echo server on a preopened listening socket.
 *
 * Run with `--tcplisten HOST:PORT [--dir D]`: the listener is fd 3 and a
 * preopened directory, if any, follows it at fd 4.  For each of argv[1]
 * clients (default 1): wait for a connection with poll_oneoff, accept it,
 * read one line, answer "echo: LINE", shut the write side down and close.
 * It checks what the guest sees of the listener (its type and rights) and
 * that socket calls on something that is not a socket say so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define LISTENER 3

static int fail(const char *what, __wasi_errno_t e) {
    printf("FAIL %s: errno %u\n", what, (unsigned)e);
    return 1;
}

static int serve_one(int n) {
    /* Wait for the listener to become readable (a pending connection), with
     * a 20 s clock as a safety net. */
    __wasi_subscription_t subs[2];
    memset(subs, 0, sizeof subs);
    subs[0].userdata = 1;
    subs[0].u.tag = __WASI_EVENTTYPE_FD_READ;
    subs[0].u.u.fd_read.file_descriptor = LISTENER;
    subs[1].userdata = 2;
    subs[1].u.tag = __WASI_EVENTTYPE_CLOCK;
    subs[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    subs[1].u.u.clock.timeout = 20ull * 1000 * 1000 * 1000;
    __wasi_event_t ev[2];
    __wasi_size_t nev = 0;
    __wasi_errno_t e = __wasi_poll_oneoff(subs, ev, 2, &nev);
    if (e) return fail("poll_oneoff", e);
    if (nev < 1 || ev[0].userdata != 1 || ev[0].error) {
        printf("FAIL poll: no connection within 20 s\n");
        return 1;
    }

    __wasi_fd_t conn;
    e = __wasi_sock_accept(LISTENER, 0, &conn);
    if (e) return fail("sock_accept", e);
    __wasi_fdstat_t st;
    e = __wasi_fd_fdstat_get(conn, &st);
    if (e) return fail("fd_fdstat_get(conn)", e);
    if (st.fs_filetype != __WASI_FILETYPE_SOCKET_STREAM) {
        printf("FAIL connection filetype %u\n", st.fs_filetype);
        return 1;
    }

    char line[256];
    size_t len = 0;
    while (len < sizeof line - 1 && (len == 0 || line[len - 1] != '\n')) {
        __wasi_iovec_t iov = {(uint8_t *)line + len, sizeof line - 1 - len};
        __wasi_size_t got = 0;
        __wasi_roflags_t ro = 0;
        e = __wasi_sock_recv(conn, &iov, 1, 0, &got, &ro);
        if (e) return fail("sock_recv", e);
        if (got == 0) break;
        len += got;
    }
    line[len] = 0;
    if (len && line[len - 1] == '\n') line[--len] = 0;
    printf("client %d said: %s\n", n, line);

    char reply[300];
    int rlen = snprintf(reply, sizeof reply, "echo: %s\n", line);
    size_t sent = 0;
    while (sent < (size_t)rlen) {
        __wasi_ciovec_t iov = {(const uint8_t *)reply + sent, (size_t)rlen - sent};
        __wasi_size_t put = 0;
        e = __wasi_sock_send(conn, &iov, 1, 0, &put);
        if (e) return fail("sock_send", e);
        sent += put;
    }
    e = __wasi_sock_shutdown(conn, __WASI_SDFLAGS_WR);
    if (e) return fail("sock_shutdown", e);
    e = __wasi_fd_close(conn);
    if (e) return fail("fd_close(conn)", e);
    return 0;
}

int main(int argc, char **argv) {
    int clients = argc > 1 ? atoi(argv[1]) : 1;

    __wasi_fdstat_t st;
    __wasi_errno_t e = __wasi_fd_fdstat_get(LISTENER, &st);
    if (e) return fail("fd_fdstat_get(3)", e);
    printf("fd 3: %s, accept %s\n",
           st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM ? "stream socket" : "not a stream socket",
           (st.fs_rights_base & __WASI_RIGHTS_SOCK_ACCEPT) ? "allowed" : "denied");
    /* A listener has no prestat: it is not a directory. */
    __wasi_prestat_t pre;
    printf("fd 3 prestat: %s\n", __wasi_fd_prestat_get(LISTENER, &pre) == __WASI_ERRNO_BADF ? "badf" : "?");
    if (__wasi_fd_prestat_get(4, &pre) == 0)
        printf("fd 4: preopened directory (name length %u)\n", (unsigned)pre.u.dir.pr_name_len);

    /* Socket calls on a non-socket (stdout) are refused with notsock. */
    __wasi_fd_t bogus;
    printf("sock_accept(stdout): %s\n",
           __wasi_sock_accept(1, 0, &bogus) == __WASI_ERRNO_NOTSOCK ? "notsock" : "?");
    fflush(stdout);

    for (int i = 1; i <= clients; i++) {
        if (serve_one(i)) return 1;
        fflush(stdout);
    }
    printf("served %d\n", clients);
    return 0;
}
