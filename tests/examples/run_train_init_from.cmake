# --init-from of the train program: a new run starts from the variables of a checkpoint (a file
# or a folder's newest) with the same names, dtypes and shapes; a checkpoint whose variables have
# other shapes, or a missing file, is refused with exit status 1.
#   TRAIN, WORK_DIR, FORMAT (tf or safetensors: the format of the checkpoint started from)
foreach(var TRAIN WORK_DIR FORMAT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_train_init_from.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(model --model=mlp --width=16 --depth=1 --batch=128 --eval-every=0 --logdir= --json --quiet)

function(run_train name expect_rc)
  execute_process(COMMAND "${TRAIN}" ${ARGN} WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  if(NOT result EQUAL expect_rc)
    message(FATAL_ERROR "${name}: train ${ARGN}: exit status ${result}, expected ${expect_rc}:\n${output}\n${errors}")
  endif()
  set(${name} "${output}" PARENT_SCOPE)
  set(${name}_errors "${errors}" PARENT_SCOPE)
endfunction()

run_train(source 0 ${model} --steps=20 --checkpoint-dir=${WORK_DIR}/source --checkpoint-format=${FORMAT})
if(FORMAT STREQUAL "safetensors")
  set(checkpoint "${WORK_DIR}/source/model.ckpt-20.safetensors")
else()
  set(checkpoint "${WORK_DIR}/source/model.ckpt-20")
endif()
run_train(fresh 0 ${model} --steps=1)
run_train(from_file 0 ${model} --steps=1 --init-from=${checkpoint})
run_train(from_folder 0 ${model} --steps=1 --init-from=${WORK_DIR}/source)

string(JSON loaded LENGTH "${from_file}" init_from_loaded)
string(JSON path GET "${from_folder}" init_from)
if(NOT loaded EQUAL 6)
  message(FATAL_ERROR "--init-from loaded ${loaded} variables, expected the model's 6:\n${from_file}")
endif()
if(NOT path STREQUAL checkpoint)
  message(FATAL_ERROR "--init-from of the folder used ${path}, expected ${checkpoint}")
endif()
# Started from trained variables, the first step's loss is not the fresh model's, and both
# spellings of the checkpoint give the same.
string(JSON fresh_loss GET "${fresh}" initial_loss)
string(JSON file_loss GET "${from_file}" initial_loss)
string(JSON folder_loss GET "${from_folder}" initial_loss)
if(file_loss STREQUAL fresh_loss OR NOT file_loss STREQUAL folder_loss OR NOT file_loss LESS fresh_loss)
  message(FATAL_ERROR "initial losses: fresh ${fresh_loss}, from the file ${file_loss}, from the folder ${folder_loss}")
endif()

# Another width: every mismatched variable named with both shapes, and nothing trained.
run_train(wrong_shape 1 --model=mlp --width=8 --depth=1 --batch=128 --logdir= --steps=1 --init-from=${checkpoint})
if(NOT wrong_shape_errors MATCHES "train: --init-from: .*dtype or shape differs: input_layer/weights: checkpoint float32 \\(64, 16\\), graph float32 \\(64, 8\\).*output_layer/weights: checkpoint float32 \\(16, 10\\), graph float32 \\(8, 10\\)")
  message(FATAL_ERROR "wrong shape: unexpected message:\n${wrong_shape_errors}")
endif()
# Another model: the rnn has an output layer of the same name but another shape.
run_train(other_model 1 --model=rnn --width=16 --batch=128 --logdir= --steps=1 --init-from=${checkpoint})
if(NOT other_model_errors MATCHES "train: --init-from: .*dtype or shape differs: output_layer/weights: checkpoint float32 \\(16, 10\\), graph float32 \\(16, 4\\)")
  message(FATAL_ERROR "other model: unexpected message:\n${other_model_errors}")
endif()
# A file that is not there.
run_train(missing 1 ${model} --steps=1 --init-from=${WORK_DIR}/no-such-checkpoint)
if(NOT missing_errors MATCHES "train: --init-from: .*no-such-checkpoint")
  message(FATAL_ERROR "missing checkpoint: unexpected message:\n${missing_errors}")
endif()
message(STATUS "--init-from: loaded ${loaded} variables; other shapes, another model and a missing file refused")
