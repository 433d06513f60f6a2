/* The smallest whole onyx program: load a model, feed it a tensor, run it, print the output.
 *   cc run_model.c $(pkg-config --cflags --libs onyx) -o run_model
 *   ./run_model model.onnx input.pb        (or input.npy) */
#include <onyx.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: %s MODEL.onnx INPUT.pb|INPUT.npy\n", argv[0]), 2;
    char why[512];
    onyx_tensor x, y;
    if (onyx_tensor_read_file(argv[2], &x, NULL, why, sizeof why) != ONYX_OK)
        return fprintf(stderr, "%s\n", why), 1;
    onyx_model *model = NULL;
    onyx_session *session = NULL;
    int failed = 1;
    if (onyx_model_load_file(argv[1], NULL, &model) != ONYX_OK)
        fprintf(stderr, "%s\n", onyx_model_errmsg(model));
    else if (onyx_session_create(model, NULL, &session) != ONYX_OK ||
             onyx_session_set_input(session, 0, &x) != ONYX_OK || onyx_session_run(session) != ONYX_OK ||
             onyx_session_get_output(session, 0, &y) != ONYX_OK)
        fprintf(stderr, "%s\n", onyx_session_errmsg(session));
    else if (y.dtype != ONYX_DTYPE_FLOAT)
        fprintf(stderr, "the output is %s; this example prints floats\n", onyx_dtype_name(y.dtype));
    else {
        printf("# shape");
        for (int d = 0; d < y.rank; d++)
            printf(" %lld", (long long)y.dims[d]);
        printf("\n");
        for (int64_t i = 0; i < onyx_tensor_element_count(&y); i++)
            printf("%.9g\n", ((const float *)y.data)[i]);
        failed = 0;
    }
    onyx_session_free(session); /* y.data belongs to the session: used above, before this */
    onyx_model_free(model);
    onyx_tensor_free_data(x.data);
    return failed;
}
