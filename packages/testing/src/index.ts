export * from './backends';
export * from './fixtures';
export * from './http';
export * from './stack';
export * from './accounts';
export * from './media-fixtures';
export * from './media-inspect';
export * from './posts-helpers';
