export * from './engine.js';
export * from './dockerApi.js';
export * from './errors.js';
