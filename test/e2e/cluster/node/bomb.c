/* The incident in one binary: `bomb threads [per-second]` starts threads that
 * sleep forever, `bomb procs [per-second]` forks single-threaded processes that
 * sleep forever (default: as fast as it can); both retry after a refusal
 * (EAGAIN from the pids cgroup) and never stop on their own, as the leaking
 * .NET services did. Every second it prints "<tasks> created, <n>
 * refused". A hard ceiling (BOMB_MAX_TASKS, default 4000) keeps a run on a
 * machine without a pids cap from taking the whole pid space. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *sleeper(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  int procs = argc > 1 && strcmp(argv[1], "procs") == 0;
  const char *limit = getenv("BOMB_MAX_TASKS");
  long max_tasks = limit ? atol(limit) : 4000;
  long rate = argc > 2 ? atol(argv[2]) : 0;
  long created = 0, refused = 0;
  time_t last = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  signal(SIGCHLD, SIG_IGN); /* children are never waited for: no zombies */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("bomb: %s, pid %d\n", procs ? "processes" : "threads", (int)getpid());
  for (;;) {
    int failed = 0;
    if (created >= max_tasks) {
      failed = 1;
    } else if (procs) {
      pid_t child = fork();
      if (child == 0) {
        for (;;) pause();
      }
      failed = child < 0;
    } else {
      pthread_t thread;
      failed = pthread_create(&thread, &attr, sleeper, NULL) != 0;
    }
    if (failed) {
      refused++;
      usleep(20000);
    } else {
      created++;
      if (rate > 0) usleep(1000000 / rate);
    }
    time_t now = time(NULL);
    if (now != last) {
      last = now;
      printf("bomb: %ld created, %ld refused\n", created, refused);
    }
  }
}
