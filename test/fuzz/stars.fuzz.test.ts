import { properties } from './stars.props.js';
import { fuzzSuite } from './suite.js';

fuzzSuite('stars', new URL('./stars.props.js', import.meta.url), properties);
