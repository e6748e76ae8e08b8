/* Clocks: monotonic time moves forward across a sleep, realtime is after
 * 2020, CPU time is readable, resolution is sane.  Prints only verdicts so
 * the output is deterministic. */
#include <stdio.h>
#include <time.h>

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
    struct timespec a, b, r, c;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long slept = ns(b) - ns(a);
    printf("monotonic advanced >= 20ms: %s\n", slept >= 20000000 ? "yes" : "no");
    printf("slept less than 5s: %s\n", slept < 5000000000LL ? "yes" : "no");
    clock_gettime(CLOCK_REALTIME, &r);
    printf("realtime after 2020: %s\n", r.tv_sec > 1577836800 ? "yes" : "no");
    printf("cputime readable: %s\n", clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c) == 0 ? "yes" : "no");
    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);
    printf("resolution <= 1ms: %s\n", ns(res) > 0 && ns(res) <= 1000000 ? "yes" : "no");
    time_t t = time(NULL);
    printf("time() agrees with realtime: %s\n", t >= r.tv_sec && t - r.tv_sec < 5 ? "yes" : "no");
    return 0;
}
