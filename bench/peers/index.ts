import type { MatmulPeer, ModelPeer, TrainPeer } from '../../src/engine/bench/types.js';
import type { DeviceOptions } from '../../src/gpu/device.js';
import { numpyPeer } from './numpy.js';
import { onnxruntimePeer } from './onnxruntime.js';
import { tfjsPeer } from './tfjs.js';
import { torchPeer } from './torch.js';
import { torchModelPeer } from './torch-model.js';
import { torchTrainPeer } from './torch-train.js';

/**
 * The matmul peers `ponder bench kernels --peers` runs beside ponder, in column order: numpy's BLAS on
 * the CPU (when python3 and numpy are there), tfjs's WebGPU backend on the same Dawn adapter, and
 * onnxruntime-node's native WebGPU EP with its own Dawn (each when its optional dev packages are
 * installed), and PyTorch (when python3, or the interpreter PONDER_PYTHON names, has torch): cuBLAS on
 * a machine with a CUDA GPU, else torch's CPU matmul. A peer that is missing is skipped with a one-line
 * note. onnxruntime-web's WebGPU provider is not among them: see bench/RESULTS.md.
 */
export const PEER_NAMES = ['numpy', 'tfjs-webgpu', 'onnxruntime-webgpu', 'pytorch'] as const;

export function matmulPeers(device: DeviceOptions): MatmulPeer[] {
  return [numpyPeer(), tfjsPeer(device), onnxruntimePeer(), torchPeer()];
}

/**
 * The model peers `ponder bench model --peers` runs beside ponder: PyTorch decoding the same model in
 * plain torch (CUDA on a GPU machine, else its CPU path; python3 or $PONDER_PYTHON), see torch-model.ts.
 */
export const MODEL_PEER_NAMES = ['pytorch'] as const;

export function modelPeers(): ModelPeer[] {
  return [torchModelPeer()];
}

/**
 * The training peers `ponder bench train --peers` runs beside ponder: PyTorch training the same model
 * on the same batches with the same AdamW (CUDA on a GPU machine, else its CPU path, whose BLAS and
 * threads are checked before its ratio counts), see torch-train.ts.
 */
export const TRAIN_PEER_NAMES = ['pytorch'] as const;

export function trainPeers(): TrainPeer[] {
  return [torchTrainPeer()];
}
