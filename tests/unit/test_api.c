/* The public API: argument checks, states, input validation, outputs. */
#include "harness.h"

#include <string.h>

/* Y = X + B, X: float [batch, 3] (symbolic batch), B a constant [3]. */
static onyx_model *add_model(void)
{
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 2, DIMS(-1, 3), (const char *const[]){"batch", NULL});
    builder_initializer(b, "B", ONYX_DTYPE_FLOAT, 1, DIMS(3), FLOATS(10, 20, 30));
    builder_node(b, "Add", "X,B", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    onyx_model *model;
    cr_assert_eq(onyx_model_load_buffer(bytes, n, NULL, &model), ONYX_OK, "%s", onyx_model_errmsg(model));
    builder_free(b); /* the model keeps nothing of the buffer */
    return model;
}

Test(api, null_arguments_are_rejected)
{
    cr_assert_eq(onyx_model_load_file("x", NULL, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_model *model = NULL;
    cr_assert_eq(onyx_model_load_file(NULL, NULL, &model), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_not_null(model);
    onyx_model_free(model);
    cr_assert_eq(onyx_session_create(NULL, NULL, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_run(NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_set_input(NULL, 0, NULL), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_str_neq(onyx_model_errmsg(NULL), "");
    cr_assert_str_neq(onyx_session_errmsg(NULL), "");
    onyx_model_free(NULL);
    onyx_session_free(NULL);
    onyx_options_free(NULL);
}

Test(api, status_strings_and_version)
{
    cr_assert_str_eq(onyx_status_str(ONYX_OK), "ok");
    cr_assert_str_eq(onyx_status_str(ONYX_ERROR_UNSUPPORTED), "unsupported");
    cr_assert_str_eq(onyx_status_str((onyx_status)1234), "unknown status");
    cr_assert_eq(onyx_version_number(), ONYX_VERSION_NUMBER);
    cr_assert_str_eq(onyx_version_string(), ONYX_VERSION_STRING);
}

Test(api, missing_file_is_an_io_error)
{
    onyx_model *model;
    cr_assert_eq(onyx_model_load_file("/nonexistent/model.onnx", NULL, &model), ONYX_ERROR_IO);
    expect_message(onyx_model_errmsg(model), "/nonexistent/model.onnx", NULL);
    onyx_model_free(model);
}

Test(api, input_and_output_info)
{
    onyx_model *model = add_model();
    cr_assert_eq(onyx_model_input_count(model), 1);
    cr_assert_eq(onyx_model_output_count(model), 1);
    onyx_value_info info;
    cr_assert_eq(onyx_model_input_info(model, 0, &info), ONYX_OK);
    cr_assert_str_eq(info.name, "X");
    cr_assert_eq(info.dtype, ONYX_DTYPE_FLOAT);
    cr_assert_eq(info.rank, 2);
    cr_assert_eq(info.dims[0], -1);
    cr_assert_str_eq(info.dim_names[0], "batch");
    cr_assert_eq(info.dims[1], 3);
    cr_assert_null(info.dim_names[1]);
    /* Inference carries the symbol to the output. */
    cr_assert_eq(onyx_model_output_info(model, 0, &info), ONYX_OK);
    cr_assert_eq(info.rank, 2);
    cr_assert_str_eq(info.dim_names[0], "batch");
    cr_assert_eq(info.dims[1], 3);
    cr_assert_eq(onyx_model_input_info(model, 1, &info), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_model_input_index(model, "X"), 0);
    cr_assert_eq(onyx_model_input_index(model, "nope"), -1);
    cr_assert_eq(onyx_model_output_index(model, "Y"), 0);
    onyx_model_free(model);
}

Test(api, run_any_batch_and_reuse_the_plan)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    for (int batch = 1; batch <= 3; batch++) {
        for (int repeat = 0; repeat < 2; repeat++) {
            float x[9];
            for (int i = 0; i < 3 * batch; i++)
                x[i] = (float)(i + repeat);
            onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(batch, 3), x);
            cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
            cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
            onyx_tensor out;
            cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
            float want[9];
            for (int i = 0; i < 3 * batch; i++)
                want[i] = x[i] + 10.0f * (float)(i % 3 + 1);
            expect_tensor(&out, ONYX_DTYPE_FLOAT, 2, DIMS(batch, 3), want, 0);
        }
    }
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, wrong_inputs_are_rejected_with_names_and_shapes)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    float x[8] = {0};
    onyx_tensor wrong_dtype = tensor_of(ONYX_DTYPE_DOUBLE, 2, DIMS(1, 3), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong_dtype), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "'X'", "float", "double", NULL);
    onyx_tensor wrong_rank = tensor_of(ONYX_DTYPE_FLOAT, 1, DIMS(3), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong_rank), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "'X'", "[?,3]", "[3]", NULL);
    onyx_tensor wrong_dim = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(2, 4), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &wrong_dim), ONYX_OK); /* dims are checked when running */
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_INPUT);
    expect_message(onyx_session_errmsg(s), "'X'", "[2,4]", NULL);
    onyx_tensor null_data = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), NULL);
    cr_assert_eq(onyx_session_set_input(s, 0, &null_data), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_session_set_input(s, 5, &null_data), ONYX_ERROR_INVALID_ARGUMENT);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, run_before_inputs_is_a_state_error)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_STATE);
    expect_message(onyx_session_errmsg(s), "'X'", "not set", NULL);
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_ERROR_INVALID_STATE);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, empty_batch_gives_empty_output)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(0, 3), NULL);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(out.rank, 2);
    cr_assert_eq(out.dims[0], 0);
    cr_assert_eq(out.dims[1], 3);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, caller_output_buffer)
{
    onyx_model *model = add_model();
    onyx_session *s;
    cr_assert_eq(onyx_session_create(model, NULL, &s), ONYX_OK);
    float x[3] = {1, 2, 3}, y[3] = {0}, small[2] = {-1, -1};
    onyx_tensor in = tensor_of(ONYX_DTYPE_FLOAT, 2, DIMS(1, 3), x);
    cr_assert_eq(onyx_session_set_input(s, 0, &in), ONYX_OK);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, small, sizeof small), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_ERROR_INVALID_ARGUMENT);
    expect_message(onyx_session_errmsg(s), "'Y'", "12 bytes", NULL);
    cr_assert_eq(small[0], -1);
    cr_assert_eq(onyx_session_set_output_buffer(s, 0, y, sizeof y), ONYX_OK);
    cr_assert_eq(onyx_session_run(s), ONYX_OK, "%s", onyx_session_errmsg(s));
    onyx_tensor out;
    cr_assert_eq(onyx_session_get_output(s, 0, &out), ONYX_OK);
    cr_assert_eq(out.data, y);
    cr_assert_eq(y[0], 11);
    cr_assert_eq(y[2], 33);
    /* Inputs are never written. */
    cr_assert_eq(x[0], 1);
    onyx_session_free(s);
    onyx_model_free(model);
}

Test(api, options)
{
    onyx_options *o;
    cr_assert_eq(onyx_options_create(&o), ONYX_OK);
    cr_assert_eq(onyx_options_set_threads(o, -1), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_threads(o, 2), ONYX_OK);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_TENSOR_ELEMENTS, 0), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_limit(o, (onyx_limit)99, 5), ONYX_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(onyx_options_set_limit(o, ONYX_LIMIT_MODEL_BYTES, 10), ONYX_OK);
    onyx_model *model;
    builder *b = builder_new(13);
    builder_input(b, "X", ONYX_DTYPE_FLOAT, 1, DIMS(2), NULL);
    builder_node(b, "Relu", "X", "Y");
    builder_output(b, "Y", ONYX_DTYPE_FLOAT);
    size_t n;
    const uint8_t *bytes = builder_pack(b, &n);
    cr_assert_eq(onyx_model_load_buffer(bytes, n, o, &model), ONYX_ERROR_LIMIT);
    expect_message(onyx_model_errmsg(model), "limit", NULL);
    onyx_model_free(model);
    builder_free(b);
    onyx_options_free(o);
}
