/* Fuzz target: a tensor file (.npy or ONNX TensorProto .pb) from bytes. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onyx_tensor tensor;
    char *name = NULL, message[1024] = "";
    onyx_status st = onyx_tensor_read_buffer(data, size, &tensor, &name, message, sizeof message);
    fuzz_expect_message(st, message);
    if (st == ONYX_OK) {
        fuzz_touch_tensor(&tensor);
        onyx_tensor_free_data(tensor.data);
        onyx_tensor_free_data(name);
    }
    return 0;
}
