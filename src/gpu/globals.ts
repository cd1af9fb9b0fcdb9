/**
 * Installs Dawn's WebGPU globals (GPUBufferUsage, GPUMapMode, ...) on import. Every gpu/ module that
 * uses those names at load time imports this first.
 */
import { globals } from 'webgpu';

Object.assign(globalThis, globals);
