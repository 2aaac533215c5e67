export * from './backends';
export * from './fixtures';
export * from './http';
export * from './stack';
export * from './accounts';
