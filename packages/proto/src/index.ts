/** Generated contracts (ts-proto). Regenerate with `npm run proto`; never edit gen/ by hand. */
export * as identity from './gen/shutter/identity/v1/identity';
export * as events from './gen/shutter/events/v1/events';
export * as socialgraph from './gen/shutter/socialgraph/v1/socialgraph';
export * as content from './gen/shutter/content/v1/content';
export * as notification from './gen/shutter/notification/v1/notification';
