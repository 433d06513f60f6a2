/* Stand-ins for the few Criterion macros a test file uses, so that it also builds as a plain
 * program: ThreadSanitizer and Criterion do not mix (Criterion cannot map its inheritable
 * arena under TSan, Snaipe/Criterion#274), and the TSan build runs such a program instead.
 * Tests run in order in one process; the last line has Criterion's "Synthesis" form, so that
 * tools/test.sh counts it the same way. */
#ifndef ONYX_PLAIN_TEST_H
#define ONYX_PLAIN_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct plain_test {
    const char *suite, *name;
    void (*fn)(void);
} plain_test;

static plain_test plain_tests[64];
static int plain_test_count;
static jmp_buf plain_abort;
static bool plain_failed;

#define Test(suite_, name_)                                                                    \
    static void suite_##_##name_(void);                                                        \
    __attribute__((constructor)) static void register_##suite_##_##name_(void)                 \
    {                                                                                          \
        plain_tests[plain_test_count++] = (plain_test){#suite_, #name_, suite_##_##name_};     \
    }                                                                                          \
    static void suite_##_##name_(void)

/* No printf format attribute: an assertion without a message passes an empty format. */
static void plain_check(bool ok, bool fatal, const char *file, int line, const char *fmt, ...)
{
    if (ok)
        return;
    plain_failed = true;
    printf("[----] %s:%d: Assertion Failed\n[----]   ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (fatal)
        longjmp(plain_abort, 1);
}

/* The message arguments are optional, as with Criterion: "" starts the format either way. */
#define PLAIN_CHECK(fatal, cond, ...) plain_check((cond), (fatal), __FILE__, __LINE__, "" __VA_ARGS__)
#define cr_assert(cond, ...) PLAIN_CHECK(true, cond, __VA_ARGS__)
#define cr_assert_eq(a, b, ...) PLAIN_CHECK(true, (a) == (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) PLAIN_CHECK(true, (a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) PLAIN_CHECK(true, (a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) PLAIN_CHECK(true, (p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) PLAIN_CHECK(true, (p) != NULL, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) PLAIN_CHECK(false, (a) == (b), __VA_ARGS__)

/* Whether test t passed; a failed cr_assert returns here through plain_abort. */
static bool plain_run(const plain_test *t)
{
    plain_failed = false;
    if (!setjmp(plain_abort))
        t->fn();
    printf("[%s] %s::%s\n", plain_failed ? "FAIL" : "PASS", t->suite, t->name);
    return !plain_failed;
}

int main(void)
{
    int passed = 0;
    for (int i = 0; i < plain_test_count; i++)
        passed += plain_run(&plain_tests[i]);
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: 0 \n", plain_test_count, passed,
           plain_test_count - passed);
    return passed == plain_test_count ? 0 : 1;
}

#endif
