import { fuzzSuite } from './suite.js';
import { properties } from './text.props.js';

fuzzSuite('text', new URL('./text.props.js', import.meta.url), properties);
