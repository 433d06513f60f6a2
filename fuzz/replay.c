/* Runs a fuzz target on files instead of under libFuzzer: the regression files of
 * tests/regressions/ and the seed corpora, in every build (normal and sanitized).
 *
 *   fuzz_TARGET FILE_OR_DIR...
 *
 * A directory stands for the files in it. Prints "replayed N files"; a crash names the file. */
#include "crash_note.h"
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 0;
    }
    size_t cap = 1 << 16, size = 0;
    uint8_t *data = malloc(cap);
    for (size_t got; data && (got = fread(data + size, 1, cap - size, f)) > 0;) {
        size += got;
        if (size == cap) {
            uint8_t *grown = realloc(data, cap *= 2);
            if (!grown)
                free(data);
            data = grown;
        }
    }
    fclose(f);
    if (!data) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return 0;
    }
    /* A copy of exactly `size` bytes, so that ASan catches a read one past the input. */
    uint8_t *exact = malloc(size ? size : 1);
    if (!exact)
        abort();
    memcpy(exact, data, size);
    free(data);
    crash_note_current = path;
    LLVMFuzzerTestOneInput(exact, size);
    crash_note_current = NULL;
    free(exact);
    return 1;
}


static int replay_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "replay: no such file or directory: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return replay_file(path);
    struct dirent **entries;
    int n = scandir(path, &entries, NULL, alphasort);
    if (n < 0)
        return -1;
    int replayed = 0;
    for (int i = 0; i < n; i++) {
        char child[4096];
        if (entries[i]->d_name[0] != '.' &&
            (size_t)snprintf(child, sizeof child, "%s/%s", path, entries[i]->d_name) < sizeof child &&
            stat(child, &sb) == 0 && S_ISREG(sb.st_mode))
            replayed += replay_file(child);
        free(entries[i]);
    }
    free(entries);
    return replayed;
}

int main(int argc, char **argv)
{
    crash_note_install();
    int replayed = 0;
    for (int i = 1; i < argc; i++) {
        int n = replay_path(argv[i]);
        if (n < 0)
            return 2;
        replayed += n;
    }
    printf("replayed %d files\n", replayed);
    return 0;
}
