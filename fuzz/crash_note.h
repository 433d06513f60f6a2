/* Names the case being run when the process dies (a signal, or a sanitizer report), so that
 * a crash in a long in-process sweep points at its input. Header-only: shared by the fuzz
 * replay driver and the malformed-model test. */
#ifndef ONYX_CRASH_NOTE_H
#define ONYX_CRASH_NOTE_H

#include <signal.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer) || \
    __has_feature(thread_sanitizer)
#define CRASH_NOTE_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CRASH_NOTE_SANITIZED 1
#endif

#ifdef CRASH_NOTE_SANITIZED
void __sanitizer_set_death_callback(void (*callback)(void));
#endif

/* The current case: a caller-owned string that must stay valid while it is current. */
static const char *volatile crash_note_current;

static void crash_note_print(void)
{
    const char *current = crash_note_current;
    if (!current)
        return;
    static const char prefix[] = "\n*** crashed while running: ";
    ssize_t ignored = write(2, prefix, sizeof prefix - 1);
    ignored = write(2, current, strlen(current));
    ignored = write(2, "\n", 1);
    (void)ignored;
}

#ifndef CRASH_NOTE_SANITIZED
static void crash_note_signal(int sig)
{
    crash_note_print();
    signal(sig, SIG_DFL);
    raise(sig);
}
#endif

/* Installs the reporting: the sanitizers' death callback when built with them (their own
 * signal handling stays in charge), else handlers for the fatal signals. */
static inline void crash_note_install(void)
{
#ifdef CRASH_NOTE_SANITIZED
    __sanitizer_set_death_callback(crash_note_print);
#else
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], crash_note_signal);
#endif
}

#endif
