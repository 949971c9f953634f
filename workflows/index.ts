// The workflows a Chiffon worker registers (the bundler's entry point).
export { requestWorkflow } from './request.js';
